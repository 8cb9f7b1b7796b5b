"""The relevance page ``mros serve`` answers at ``/``: a query box and BM25 | dense | hybrid side by side.

Plain HTML and a little JavaScript, no build step: the page calls ``/search`` once per mode and draws
three columns. Each hit shows its grade badge (the learned boundaries of the index's model) and, when the
service has judgments, the judged grade; a judged query shows each column's nDCG@10. A hybrid hit opens
its explanation: both legs' raw and normalized scores. ``/?q=...`` opens with that search, so a result can
be linked.
"""

from __future__ import annotations

import html

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mros relevance: __ALIAS__</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
  form { display: flex; gap: .5rem; margin-bottom: 1rem; }
  input[name=q] { flex: 1; font-size: 1.1rem; padding: .4rem .6rem; }
  .columns { display: grid; grid-template-columns: repeat(3, 1fr); gap: 1rem; }
  .column h2 { font-size: 1rem; margin: 0 0 .3rem; }
  .column .meta { color: #666; font-size: .85rem; margin-bottom: .5rem; }
  ol { padding-left: 1.4rem; margin: 0; }
  li.hit { margin-bottom: .45rem; }
  .title { font-weight: 500; }
  .score { color: #555; font-variant-numeric: tabular-nums; }
  .badge { display: inline-block; border-radius: .6rem; padding: 0 .45rem; font-size: .75rem; margin-left: .3rem; }
  .badge.exact { background: #c8efc8; } .badge.partial { background: #fbe7b0; } .badge.irrelevant { background: #f5c6c6; }
  .badge.none { background: #e4e4e4; color: #777; }
  .judged { font-size: .75rem; margin-left: .3rem; color: #333; border: 1px solid #999; border-radius: .6rem; padding: 0 .4rem; }
  .explain { font-size: .8rem; color: #444; background: #f6f6f6; padding: .3rem .5rem; margin-top: .2rem; display: none; }
  li.open .explain { display: block; }
  .error { color: #a00; }
</style>
</head>
<body>
<h1>mros relevance: <code>__ALIAS__</code></h1>
<form id="search"><input name="q" autofocus placeholder="a shopper's query"><input name="k" type="number" value="10" min="1" max="100"><button>Search</button></form>
<div class="columns">
  <section class="column" id="bm25"><h2>BM25</h2><div class="meta"></div><ol></ol></section>
  <section class="column" id="dense"><h2>dense</h2><div class="meta"></div><ol></ol></section>
  <section class="column" id="hybrid"><h2>hybrid</h2><div class="meta"></div><ol></ol></section>
</div>
<script>
const JUDGED = __JUDGED__;
const MODES = ["bm25", "dense", "hybrid"];
function fmt(x, d) { return x === null || x === undefined ? "\\u2013" : Number(x).toFixed(d === undefined ? 3 : d); }
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function render(mode, body) {
  const col = document.getElementById(mode), list = col.querySelector("ol"), meta = col.querySelector(".meta");
  list.replaceChildren();
  if (body.error) { meta.replaceChildren(el("span", "error", body.error + (body.hint ? " (" + body.hint + ")" : ""))); return; }
  let text = body.hits.length + " hits, " + fmt(body.took_ms, 0) + " ms";
  if (JUDGED) text += body.judged_query ? ", nDCG@10 " + fmt(body["ndcg@10"]) : ", query not judged";
  meta.textContent = text;
  col.dataset.index = body.index; col.dataset.model = body.model_sha256 || "";
  for (const hit of body.hits) {
    const li = el("li", "hit");
    li.dataset.id = hit.product_id;
    li.append(el("span", "title", hit.title || hit.product_id), " ", el("span", "score", fmt(hit.score)));
    li.append(el("span", "badge " + (hit.grade || "none"), hit.grade || "no grade"));
    if (JUDGED && hit.judged !== null && hit.judged !== undefined) li.append(el("span", "judged", "judged " + ["irrelevant", "partial", "exact"][hit.judged]));
    if (mode === "hybrid") {
      const ex = el("div", "explain", "bm25 raw " + fmt(hit.bm25_score) + " \\u2192 " + fmt(hit.bm25_normalized) +
        " | dense raw " + fmt(hit.dense_score) + " \\u2192 " + fmt(hit.dense_normalized) + " | combined " + fmt(hit.score));
      li.append(ex);
      li.addEventListener("click", () => li.classList.toggle("open"));
      li.title = "click: the two legs' raw and normalized scores";
    }
    list.append(li);
  }
}
async function run(q, k) {
  history.replaceState(null, "", "?q=" + encodeURIComponent(q) + (k && k !== "10" ? "&k=" + encodeURIComponent(k) : ""));
  await Promise.all(MODES.map(async mode => {
    try {
      const answer = await fetch("search?mode=" + mode + "&k=" + encodeURIComponent(k || 10) + "&q=" + encodeURIComponent(q));
      render(mode, await answer.json());
    } catch (err) { render(mode, {error: String(err)}); }
  }));
  document.body.dataset.done = q;
}
const form = document.getElementById("search");
form.addEventListener("submit", ev => { ev.preventDefault(); run(form.q.value, form.k.value); });
const start = new URLSearchParams(location.search);
if (start.get("q")) { form.q.value = start.get("q"); if (start.get("k")) form.k.value = start.get("k"); run(form.q.value, form.k.value); }
</script>
</body>
</html>
"""


def page_html(alias: str, *, judged: bool) -> str:
    """The page for ``alias``; ``judged``: the service has judgments (judged grades and nDCG@10 shown)."""
    return _PAGE.replace("__ALIAS__", html.escape(alias)).replace("__JUDGED__", "true" if judged else "false")
