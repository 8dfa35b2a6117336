-- docs/man/include.lua - a pandoc filter that builds the man pages from the
-- docs, so a man page and its doc never say different things.  A page
-- (docs/man/*.md) writes NAME, SYNOPSIS, FILES and SEE ALSO itself and
-- pulls the rest from the docs with
--
--   ::: {.include file="docs/RLCTL.md" section="rlagent" title="DESCRIPTION" skip-code="1"}
--   :::
--
-- which becomes a .SH TITLE holding the blocks under the doc's level-2
-- heading SECTION (up to the next one), their level-3 headings as .SS;
-- skip-code drops the section's first code block (the synopsis the page
-- already shows).  section="*" takes the whole file: the blocks before the
-- first level-2 heading under TITLE, then each level-2 section as its own
-- .SH, named by its heading in capitals.  Links into the docs or the repo
-- become their text: a man page cannot follow them.  Tables become lists
-- of terms (see table_to_terms).

local function read_doc(path)
  local f = assert(io.open(path, "r"), "include.lua: cannot read " .. path)
  local text = f:read("a")
  f:close()
  return pandoc.read(text, "gfm").blocks
end

-- the inlines of a table cell (its blocks are Plain)
local function cell_inlines(cell)
  local out = pandoc.List()
  for _, b in ipairs(cell.contents) do
    if b.content then
      out:extend(b.content)
    end
  end
  return out
end

-- A table becomes a list of terms, as man pages list options: the first
-- column is the term, the last its text, the ones between follow it as
-- "(header: value; ...)" (tbl squeezes a wide table into columns a few words
-- wide, and groff warns about every line it cannot fill).
local function table_to_terms(tbl)
  local heads = {}
  for i, c in ipairs(tbl.head.rows[1].cells) do
    heads[i] = pandoc.utils.stringify(c.contents)
  end
  local items = {}
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cells, n = row.cells, #row.cells
      local term = cell_inlines(cells[1])
      local defs = {}
      local extra = pandoc.List()
      for i = 2, n - 1 do
        local v = cell_inlines(cells[i])
        if #v > 0 then
          if #extra > 0 then
            extra:extend({ pandoc.Str(";"), pandoc.Space() })
          end
          extra:extend({ pandoc.Str(heads[i] .. ":"), pandoc.Space() })
          extra:extend(v)
        end
      end
      if n > 1 then
        local text = cell_inlines(cells[n])
        if #extra > 0 then
          if #text > 0 then
            text:insert(pandoc.Space())
          end
          text:insert(pandoc.Str("("))
          text:extend(extra)
          text:insert(pandoc.Str(")"))
        end
        table.insert(defs, pandoc.Para(text))
      end
      table.insert(items, { term, { defs } })
    end
  end
  return pandoc.DefinitionList(items)
end

local function localize(blocks)
  return pandoc.walk_block(pandoc.Div(blocks), {
    Link = function(l)
      if not l.target:match("^%a+://") then
        return l.content
      end
    end,
    Table = table_to_terms,
  }).content
end

-- level-3 and deeper headings move up one level (.SS, then bold)
local function shift(blocks)
  for _, b in ipairs(blocks) do
    if b.t == "Header" and b.level >= 3 then
      b.level = b.level - 1
    end
  end
  return blocks
end

local function section(blocks, name, skip_code)
  local out, inside, skipped = {}, false, not skip_code
  for _, b in ipairs(blocks) do
    if b.t == "Header" and b.level <= 2 then
      if inside then break end
      inside = b.level == 2 and pandoc.utils.stringify(b.content) == name
    elseif inside then
      if not skipped and b.t == "CodeBlock" then
        skipped = true
      else
        table.insert(out, b)
      end
    end
  end
  assert(#out > 0, "include.lua: no section '" .. name .. "'")
  return out
end

local function whole(blocks, title)
  local out = { pandoc.Header(1, title) }
  for _, b in ipairs(blocks) do
    if b.t == "Header" and b.level == 1 then
      -- the doc's own title: the page has NAME
    elseif b.t == "Header" and b.level == 2 then
      table.insert(out, pandoc.Header(1, pandoc.utils.stringify(b.content):upper()))
    else
      table.insert(out, b)
    end
  end
  return out
end

function Div(div)
  if not div.classes:includes("include") then
    return nil
  end
  local a = div.attributes
  local blocks = read_doc(a.file)
  local out
  if a.section == "*" then
    out = whole(blocks, a.title)
    out = shift(out)
  else
    out = { pandoc.Header(1, a.title) }
    for _, b in ipairs(shift(section(blocks, a.section, a["skip-code"]))) do
      table.insert(out, b)
    end
  end
  return localize(out)
end
