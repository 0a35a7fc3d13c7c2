// Mattefarm dashboard: the job list refreshes itself; a job page follows the job's Server-Sent Events.
"use strict";

// State-changing calls signed in by the session cookie carry this header (see api/auth.py).
const SIGNED = {"X-Requested-With": "mattefarm"};

// A page's table (and its count) redrawn from the page itself every `ms` milliseconds.
function refreshTable(ms, tableId, countId) {
  setInterval(async () => {
    const response = await fetch(location.pathname, {headers: {"Accept": "text/html"}});
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    document.getElementById(tableId).replaceWith(page.getElementById(tableId));
    document.getElementById(countId).textContent = page.getElementById(countId).textContent;
  }, ms);
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
  document.querySelectorAll("button[data-action]").forEach((b) => { b.disabled = !enabled[b.dataset.action].includes(e.state); });
  document.getElementById("download").classList.toggle("disabled", e.state !== "done");
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
      fetch(`/v1/jobs/${id}`).then((r) => r.json()).then((job) => {  // the final figures: fps, times, workers
        showJob(job);
        job.chunks.forEach((c) => showChunk({...c, frames: c.frame_end - c.frame_start}));
        document.getElementById("finished").textContent = job.finished_at ? job.finished_at.slice(11, 19) : "–";
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
    const options = {render: {screen: fields.get("screen"), chunk_seconds: Number(fields.get("chunk_seconds"))},
                     priority: Number(fields.get("priority")), matte: fields.get("matte") === "on"};
    const body = new FormData();
    body.append("video", fields.get("video"));
    body.append("plate", fields.get("plate"));
    body.append("options", JSON.stringify(options));
    form.querySelector("button").disabled = true;
    const response = await fetch("/v1/jobs", {method: "POST", body, headers: SIGNED});
    const answer = await response.json();
    if (response.ok) location.href = `/jobs/${answer.id}`;
    else { alert(answer.detail); form.querySelector("button").disabled = false; }
  };
}
