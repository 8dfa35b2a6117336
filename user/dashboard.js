// rl dashboard: polls dashboard.json once a second (the next poll starts
// only after the last answer), turns the cumulative counters into rates
// and draws them with Chart.js (served by the agent from libjs-chart.js).
'use strict';
(function () {
  var POLL_MS = 1000, HISTORY = 120;
  var prev = null, polls = 0, lastOk = 0;
  var hist = { labels: [], pass: [], drop: [], block: [] };
  var rateChart = null, ruleChart = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function rate(cur, old, dt) {
    if (old === undefined || dt <= 0 || cur < old) return 0;
    return (cur - old) / dt;
  }
  function fmtRate(r) { return r >= 100 ? r.toFixed(0) : r.toFixed(1); }
  // dropped: over the limit, and in the penalty box (as rl-rules.yml and
  // the Grafana dashboard count it: verdict drop|block)
  function dropped(r) { return r.drop === undefined ? undefined : r.drop + r.block; }

  function initCharts() {
    if (typeof Chart === 'undefined') {
      document.getElementById('nochart').style.display = 'block';
      return;
    }
    var common = { animation: false, responsive: true, maintainAspectRatio: false };
    rateChart = new Chart(document.getElementById('rate-chart'), {
      type: 'line',
      data: { labels: hist.labels, datasets: [
        { label: 'passed by rules /s', data: hist.pass, borderColor: '#2a7', pointRadius: 0 },
        { label: 'dropped by rules /s', data: hist.drop, borderColor: '#c22', pointRadius: 0 },
        { label: 'blocklisted /s', data: hist.block, borderColor: '#555', pointRadius: 0 } ] },
      options: Object.assign({ scales: { y: { beginAtZero: true, title: { display: true, text: 'packets/s' } } },
        plugins: { title: { display: true, text: 'All rules, last ' + HISTORY + ' s' } } }, common)
    });
    ruleChart = new Chart(document.getElementById('rule-chart'), {
      type: 'bar',
      data: { labels: [], datasets: [
        { label: 'pass/s', data: [], backgroundColor: '#2a7' },
        { label: 'drop/s', data: [], backgroundColor: '#c22' } ] },
      options: Object.assign({ scales: { y: { beginAtZero: true } },
        plugins: { title: { display: true, text: 'Per rule, now' } } }, common)
    });
  }

  function render(j) {
    // the agent answers a poll that follows its last render closely with
    // that render again: nothing new to show, and no interval for rates
    if (prev && j.time_ms === prev.time_ms) return;
    var dt = prev ? (j.time_ms - prev.time_ms) / 1000 : 0;
    var old = {}, i, k;
    if (prev) prev.rules.forEach(function (r) { old[r.name] = r; });
    var tb = document.querySelector('#rules tbody');
    tb.textContent = '';
    var sumPass = 0, sumDrop = 0, names = [], rp = [], rd = [];
    j.rules.forEach(function (r) {
      var o = old[r.name] || {};
      var p = rate(r.pass, o.pass, dt), d = rate(dropped(r), dropped(o), dt);
      sumPass += p; sumDrop += d;
      if (names.length < 10) { names.push(r.name); rp.push(p); rd.push(d); }
      var tr = el('tr');
      tr.dataset.rule = r.name;
      tr.appendChild(el('td', r.name));
      tr.appendChild(el('td', r.action));
      var c = el('td', fmtRate(p), 'n'); c.dataset.rate = 'pass'; tr.appendChild(c);
      c = el('td', fmtRate(d), d > 0 ? 'n drop' : 'n'); c.dataset.rate = 'drop'; tr.appendChild(c);
      ['pass', 'drop', 'monitor', 'block', 'mark'].forEach(function (v) {
        var td = el('td', r[v], 'n');
        td.dataset.verdict = v;
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
    document.getElementById('rules-note').textContent = j.rules_truncated ?
      '(the ' + j.rules.length + ' busiest of ' + j.rules_total + ')' : '(' + j.rules_total + ')';

    var gb = document.querySelector('#global tbody');
    gb.textContent = '';
    for (k in j.global) {
      var tr2 = el('tr');
      tr2.dataset.global = k;
      tr2.appendChild(el('td', k));
      tr2.appendChild(el('td', fmtRate(rate(j.global[k], prev ? prev.global[k] : undefined, dt)), 'n'));
      var tv = el('td', j.global[k], 'n');
      tv.dataset.value = 'total';
      tr2.appendChild(tv);
      gb.appendChild(tr2);
    }

    var tt = document.querySelector('#top tbody');
    tt.textContent = '';
    if (j.top) {
      document.getElementById('top-note').textContent =
        '(' + j.top.tracked + ' tracked keys, scanned ' + (j.top.age_ms / 1000).toFixed(1) + ' s ago)';
      j.top.rows.forEach(function (r) {
        var tr3 = el('tr');
        tr3.appendChild(el('td', r.rule));
        tr3.appendChild(el('td', r.source));
        tr3.appendChild(el('td', r.blocked_for_ms ? (r.blocked_for_ms / 1000).toFixed(1) + ' s' : '-'));
        tr3.appendChild(el('td', r.credit + '/' + r.credit_max, 'n'));
        tt.appendChild(tr3);
      });
    } else {
      document.getElementById('top-note').textContent = '(scanning)';
    }

    if (prev) {
      hist.labels.push(new Date(j.time_ms).toLocaleTimeString());
      hist.pass.push(sumPass);
      hist.drop.push(sumDrop);
      hist.block.push(rate(j.global.blocklist, prev.global.blocklist, dt));
      if (hist.labels.length > HISTORY)
        for (k in hist) hist[k].shift();
    }
    if (rateChart) rateChart.update();
    if (ruleChart) {
      ruleChart.data.labels = names;
      ruleChart.data.datasets[0].data = rp;
      ruleChart.data.datasets[1].data = rd;
      ruleChart.update();
    }
    prev = j;
  }

  function setStatus(text, stale) {
    var s = document.getElementById('status');
    s.textContent = text;
    s.className = stale ? 'stale' : '';
  }

  function poll() {
    fetch('dashboard.json', { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (j) {
      polls++;
      lastOk = Date.now();
      render(j);
      var st = document.getElementById('status');
      st.dataset.polls = polls;
      setStatus('updated ' + new Date(j.time_ms).toLocaleTimeString() + ' \u00b7 ' + polls +
                ' polls \u00b7 agent up since ' + new Date(j.started * 1000).toLocaleString(), false);
    }).catch(function (e) {
      setStatus('no answer from the agent (' + e.message + ')' +
                (lastOk ? '; last update ' + new Date(lastOk).toLocaleTimeString() : ''), true);
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  initCharts();
  poll();
})();
