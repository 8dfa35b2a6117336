# bash completion for rlctl(8) - installed as
# $(PREFIX)/share/bash-completion/completions/rlctl.  Needs nothing from the
# bash-completion package.  The candidates come from rlctl itself
# (`rlctl __complete WORDS... CUR`, read from its command table), rule
# names from the running agent (one second at most), when it answers.

_rlctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local i w words=() opts=() c

	# the words after the options; -S and -t go to rlctl for asking the agent
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ ${#words[@]} -eq 0 ]]; then
			case $w in
			-S | -t) opts+=("$w" "${COMP_WORDS[i+1]}"); ((i++)); continue ;;
			-*) continue ;;
			esac
		fi
		words+=("$w")
	done

	case $prev in
	-S) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-t) return ;;
	esac
	if [[ ${#words[@]} -eq 0 && $cur == -* ]]; then
		COMPREPLY=($(compgen -W "-j -p -S -t -h -V --json --pretty --help --version" -- "$cur"))
		return
	fi
	COMPREPLY=()
	while IFS= read -r c; do
		if [[ $c == @files ]]; then
			COMPREPLY+=($(compgen -f -- "$cur"))
		else
			COMPREPLY+=("$c")
		fi
	done < <(rlctl "${opts[@]}" -t 1 __complete "${words[@]}" "$cur" 2>/dev/null)
}
complete -F _rlctl rlctl
