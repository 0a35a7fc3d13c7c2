// Mattefarm dashboard: the job list refreshes itself; a job page follows the job's Server-Sent Events.
"use strict";

// State-changing calls signed in by the session cookie carry this header (see api/auth.py).
const SIGNED = {"X-Requested-With": "mattefarm"};

// A page's table (and its count) redrawn from the page itself (its filters kept) every `ms` milliseconds;
// `after` runs once the new table is in (to restore what the person had selected or collapsed).
function refreshTable(ms, tableId, countId, after) {
  const redraw = async () => {
    const response = await fetch(location.pathname + location.search, {headers: {"Accept": "text/html"}});
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    document.getElementById(tableId).replaceWith(page.getElementById(tableId));
    document.getElementById(countId).textContent = page.getElementById(countId).textContent;
    if (after) after();
  };
  setInterval(redraw, ms);
  return redraw;
}

// The job list: filters (a GET form), collapsible batch groups, and actions on several selected jobs,
// each sent as the job's own control (POST /v1/jobs/{id}/{action}), so the same rules apply as one by one.
function jobList(ms) {
  const selected = new Set();
  const collapsed = new Set(JSON.parse(localStorage.getItem("mattefarm.collapsed") || "[]"));
  const filters = document.getElementById("filters");
  filters.querySelectorAll("select").forEach((s) => { s.onchange = () => filters.submit(); });
  const boxes = () => [...document.querySelectorAll("#jobs .select-job")];
  const show = () => {
    boxes().forEach((b) => { b.checked = selected.has(b.value); });
    document.querySelectorAll("#jobs tr.batch-row").forEach((row) => {
      const id = row.dataset.batch;
      const members = boxes().filter((b) => b.closest("tr").dataset.inBatch === id);
      const box = row.querySelector(".select-batch");
      box.checked = members.length > 0 && members.every((b) => b.checked);
      box.indeterminate = !box.checked && members.some((b) => b.checked);
      const toggle = row.querySelector(".toggle");
      toggle.textContent = collapsed.has(id) ? "▸" : "▾";
      toggle.setAttribute("aria-expanded", String(!collapsed.has(id)));
      members.forEach((b) => { b.closest("tr").hidden = collapsed.has(id); });
    });
    const all = document.getElementById("select-all");
    all.checked = boxes().length > 0 && boxes().every((b) => b.checked);
    document.getElementById("selected-count").textContent = `${selected.size} selected`;
    document.querySelectorAll("button[data-bulk]").forEach((b) => { b.disabled = selected.size === 0; });
  };
  const table = () => document.getElementById("jobs");
  document.addEventListener("change", (ev) => {
    const box = ev.target;
    if (!table().contains(box)) return;
    if (box.classList.contains("select-job")) {
      box.checked ? selected.add(box.value) : selected.delete(box.value);
    } else if (box.classList.contains("select-batch")) {
      const id = box.closest("tr").dataset.batch;
      boxes().filter((b) => b.closest("tr").dataset.inBatch === id)
             .forEach((b) => (box.checked ? selected.add(b.value) : selected.delete(b.value)));
    } else if (box.id === "select-all") {
      boxes().forEach((b) => (box.checked ? selected.add(b.value) : selected.delete(b.value)));
    }
    show();
  });
  document.addEventListener("click", (ev) => {
    const toggle = ev.target.closest && ev.target.closest("button[data-toggle]");
    if (!toggle) return;
    const id = toggle.dataset.toggle;
    collapsed.has(id) ? collapsed.delete(id) : collapsed.add(id);
    localStorage.setItem("mattefarm.collapsed", JSON.stringify([...collapsed]));
    show();
  });
  const redraw = refreshTable(ms, "jobs", "job-count", () => {
    const listed = new Set(boxes().map((b) => b.value));
    [...selected].forEach((id) => { if (!listed.has(id)) selected.delete(id); });
    show();
  });
  document.querySelectorAll("button[data-bulk]").forEach((button) => {
    button.onclick = async () => {
      const action = button.dataset.bulk;
      const ids = [...selected];
      const refused = [];
      await Promise.all(ids.map(async (id) => {
        const response = await fetch(`/v1/jobs/${id}/${action}`, {method: "POST", headers: SIGNED});
        if (!response.ok) refused.push(`${id.slice(0, 8)}: ${(await response.json()).detail}`);
      }));
      const result = document.getElementById("bulk-result");
      result.hidden = false;
      result.classList.toggle("error", refused.length > 0);
      result.textContent = `${action}: ${ids.length - refused.length} of ${ids.length} done` +
                           (refused.length ? `; refused: ${refused.join("; ")}` : "");
      await redraw();
    };
  });
  show();
}

function seconds(s) {
  if (s === null || s === undefined) return "–";
  s = Math.round(s);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`
       : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

function setState(el, state) {
  el.className = el.className.replace(/\b(pending|running|done|failed|cancelled|paused)\b/g, "").trim() + " " + state;
}

function showChunk(c) {
  const cell = document.getElementById(`chunk-${c.index}`);
  if (!cell) { location.reload(); return; }  // chunks appeared (ingest finished): redraw the page
  setState(cell, c.state);
  cell.querySelector(".fill").style.width = `${c.frames ? 100 * c.frames_done / c.frames : 0}%`;
  cell.title = `chunk ${c.index}: ${c.state}, ${c.frames_done}/${c.frames} frames`;
  const row = document.getElementById(`row-${c.index}`);
  if (row) {
    setState(row.cells[2].firstElementChild, c.state);
    row.cells[2].firstElementChild.textContent = c.state;
    row.cells[3].textContent = c.frames_done;
    row.cells[4].textContent = c.attempts;
    row.cells[7].textContent = c.error || "";
    if ("worker" in c) row.cells[5].textContent = c.worker || "–";
    if ("seconds" in c) row.cells[6].textContent = c.seconds ? c.seconds.toFixed(1) : "–";
  }
}

function showJob(e) {
  const state = document.getElementById("state");
  setState(state, e.state);
  state.textContent = e.state;
  document.getElementById("stage").textContent = e.stage;
  document.getElementById("frames").textContent = `${e.frames_done}/${e.frames_total}`;
  if ("fps" in e) document.getElementById("fps").textContent = e.fps ? e.fps.toFixed(1) : "–";
  if ("eta_s" in e) document.getElementById("eta").textContent = seconds(e.eta_s);
  if ("provider" in e) document.getElementById("provider").textContent = e.provider || "–";
  const error = document.getElementById("error");
  error.hidden = !e.error;
  error.textContent = e.error || "";
  const ended = ["done", "failed", "cancelled"].includes(e.state);
  const enabled = {pause: ["pending", "running"], resume: ["paused"], retry: ["failed", "cancelled"],
                   cancel: ["pending", "running", "paused"]};
  document.querySelectorAll("button[data-action]").forEach((b) => {
    b.disabled = b.dataset.action === "retry" && "retryable" in e ? !e.retryable : !enabled[b.dataset.action].includes(e.state);
  });
  if ("elapsed_s" in e) document.getElementById("elapsed").textContent = seconds(e.elapsed_s);
  if ("total_s" in e) document.getElementById("total").textContent = seconds(e.total_s);
  document.querySelectorAll("#outputs a.button").forEach((a) => a.classList.toggle("disabled", e.state !== "done"));
}

async function call(method, url, body) {
  const response = await fetch(url, {method, headers: {"Content-Type": "application/json", ...SIGNED},
                                     body: body && JSON.stringify(body)});
  if (!response.ok) alert((await response.json()).detail);
  return response;
}

function followJob(id, chunkCount) {
  document.querySelectorAll("button[data-action]").forEach((b) => {
    b.onclick = async () => {
      const response = await call("POST", `/v1/jobs/${id}/${b.dataset.action}`);
      if (response.ok && ["resume", "retry"].includes(b.dataset.action)) location.reload();  // follow the new run
    };
  });
  document.querySelectorAll("details.log").forEach((d) => {
    d.addEventListener("toggle", async () => {
      if (d.open) d.querySelector("pre").textContent = (await (await fetch(d.dataset.log)).text()) || "(no lines yet)";
    });
  });
  document.getElementById("priority").onchange = (ev) => call("PATCH", `/v1/jobs/${id}`, {priority: Number(ev.target.value)});
  const tail = document.getElementById("log-tail");
  const redraw = async () => {  // the log tail, and the timeline from the page itself
    const text = await (await fetch(tail.dataset.log)).text();
    tail.textContent = text || "(no lines yet)";
    tail.scrollTop = tail.scrollHeight;
    const response = await fetch(location.pathname, {headers: {"Accept": "text/html"}});
    if (response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      document.getElementById("timeline").replaceWith(page.getElementById("timeline"));
    }
  };
  redraw();
  const live = setInterval(redraw, 2000);
  const source = new EventSource(`/v1/jobs/${id}/events`);
  const handle = (message) => {
    const e = JSON.parse(message.data);
    showJob(e);
    if (e.type === "snapshot") {
      if (e.chunks.length !== chunkCount) { location.reload(); return; }
      e.chunks.forEach((c) => showChunk({...c, frames: c.frame_end - c.frame_start}));
    }
    if (e.chunk) showChunk(e.chunk);
    if (["done", "failed", "cancelled"].includes(e.state)) {
      source.close();
      clearInterval(live);
      redraw();
      fetch(`/v1/jobs/${id}`).then((r) => r.json()).then((job) => {  // the final figures: fps, times, workers
        showJob(job);
        job.chunks.forEach((c) => showChunk({...c, frames: c.frame_end - c.frame_start}));
        document.getElementById("finished").textContent = job.finished_at ? job.finished_at.slice(0, 19).replace("T", " ") : "–";
        if (job.state === "done") {
          const preview = document.getElementById("preview");
          preview.src = `/v1/jobs/${id}/preview.jpg`;
          preview.hidden = false;
          document.getElementById("no-preview").hidden = true;
        }
      });
    }
  };
  ["snapshot", "state", "chunk", "progress"].forEach((t) => source.addEventListener(t, handle));
}

function submitForm() {
  const form = document.getElementById("submit-form");
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const fields = new FormData(form);
    const keyer = Object.fromEntries([...form.querySelectorAll("input[data-keyer]")]  // edge controls moved off their default
      .filter((i) => i.value !== "" && Number(i.value) !== Number(i.dataset.default))
      .map((i) => [i.dataset.keyer, Number(i.value)]));
    const options = {render: {screen: fields.get("screen"), chunk_seconds: Number(fields.get("chunk_seconds")), keyer,
                              garbage: fields.get("garbage_auto") || "none"},
                     priority: Number(fields.get("priority")), matte: fields.get("matte") === "on"};
    const body = new FormData();
    body.append("video", fields.get("video"));
    body.append("plate", fields.get("plate"));
    for (const part of ["garbage", "core"]) {  // optional mattes: sent only when a file is chosen
      const file = fields.get(part);
      if (file && file.name) body.append(part, file);
    }
    body.append("options", JSON.stringify(options));
    form.querySelector("button").disabled = true;
    const response = await fetch("/v1/jobs", {method: "POST", body, headers: SIGNED});
    const answer = await response.json();
    if (response.ok) location.href = `/jobs/${answer.id}`;
    else { alert(answer.detail); form.querySelector("button").disabled = false; }
  };
}

// Keyer tuning: a frame keyed with the controls as they are moved (one request at a time, the latest
// values always keyed last), reset, copied as --keyer options, or rendered again as a new job.
function tuneKeyer(id) {
  const panel = document.getElementById("tuning");
  const img = document.getElementById("tune-preview");
  const status = document.getElementById("tune-status");
  const frame = document.getElementById("tune-frame");
  const frameN = document.getElementById("tune-frame-n");
  const numbers = () => [...panel.querySelectorAll("label.control input[type=number]")];
  const values = () => Object.fromEntries(numbers().map((i) => [i.name, i.value]));
  const changed = () => Object.fromEntries(numbers()
    .filter((i) => Number(i.value) !== Number(i.closest("label").dataset.default))
    .map((i) => [i.name, Number(i.value)]));
  let busy = false, again = false;
  const load = async () => {
    if (busy) { again = true; return; }
    busy = true; again = false;
    const query = new URLSearchParams({frame: frameN.value, ...values()}).toString();
    const started = performance.now();
    status.textContent = "keying…";
    try {
      const response = await fetch(`/v1/jobs/${id}/preview?${query}`);
      if (response.ok) {
        const old = img.src;
        img.src = URL.createObjectURL(await response.blob());
        await img.decode();
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        img.dataset.keyed = query;
        status.classList.remove("error");
        status.textContent = `frame ${frameN.value}: keyed in ${Math.round(performance.now() - started)} ms`;
      } else {
        status.classList.add("error");
        status.textContent = (await response.json()).detail;
      }
    } finally {
      busy = false;
      if (again) load();
    }
  };
  panel.querySelectorAll("label.control").forEach((label) => {
    const [range, number] = label.querySelectorAll("input");
    range.addEventListener("input", () => { number.value = range.value; load(); });
    number.addEventListener("change", () => { range.value = number.value; load(); });
  });
  frame.addEventListener("change", () => { frameN.value = frame.value; load(); });
  frameN.addEventListener("change", () => { frame.value = frameN.value; load(); });
  document.getElementById("tune-reset").onclick = () => {
    panel.querySelectorAll("label.control").forEach((label) => {
      label.querySelectorAll("input").forEach((i) => { i.value = label.dataset.job; });
    });
    load();
  };
  document.getElementById("tune-copy").onclick = async () => {
    const args = document.getElementById("tune-args");
    args.value = Object.entries(changed()).map(([k, v]) => `--keyer ${k}=${v}`).join(" ") || "(the defaults)";
    args.hidden = false;
    args.select();
    try { await navigator.clipboard.writeText(args.value); } catch (_) { /* selected for copying by hand */ }
  };
  document.getElementById("tune-rerender").onclick = async () => {
    const response = await call("POST", `/v1/jobs/${id}/rerender`, {keyer: changed()});
    if (response.ok) location.href = `/jobs/${(await response.json()).id}`;
  };
  load();
}
