// The mlapply console: reads the JSON endpoints every few seconds and draws the
// stack, its jobs (CPU and memory per task over time with uPlot, the log tail,
// trials) and its models. Text from the stack is only ever set as text.
"use strict";

const REFRESH_MS = 2000;
const STACK_REFRESH_MS = 5000;
const state = {
  selected: null,        // the job shown in detail
  trial: null,           // its trial shown, for a tuning job
  chosenByUser: false,
  series: {},            // "job/trial" -> {task: {time: [], cpu: [], memory_bytes: []}}
  charts: {},            // chart element id -> uPlot
  servedCharts: {},      // a model's requests chart element, kept across refreshes
  jobs: [],
};

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function getJSON(path) {
  const answer = await fetch(path, {cache: "no-store"});
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  return body;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function mib(bytes) {
  return bytes ? `${Math.round(bytes / 2 ** 20)} MiB` : "-";
}

function number(value) {
  return typeof value === "number" ? Number(value.toPrecision(4)).toString() : "-";
}

function active(job) {
  return ["QUEUED", "PREPARING", "RUNNING", "CANCELLING"].includes(job.state);
}

// The stack -------------------------------------------------------------------------

async function refreshStack() {
  const stack = await getJSON("/api/stack");
  document.getElementById("stack-name").textContent = stack.stack;
  document.getElementById("backend").textContent = `backend ${stack.backend}`;
  const badge = document.getElementById("converged");
  if (stack.plan_error) {
    badge.textContent = "plan failed";
    badge.className = "tag blocked";
    badge.title = stack.plan_error;
  } else if (stack.converged === null) {
    badge.textContent = "planning…";
    badge.className = "tag";
  } else {
    const blocked = stack.changes.filter((c) => c.action === "blocked").length;
    badge.textContent = stack.converged ? "converged" :
      `${stack.changes.length} change(s)` + (blocked ? `, ${blocked} blocked` : "");
    badge.className = "tag " + (stack.converged ? "ok" : blocked ? "blocked" : "changes");
  }
  const last = stack.last_apply;
  document.getElementById("last-apply").textContent = last ?
    `last apply ${new Date(last.ended * 1000).toLocaleString()}: ${last.outcome}` : "never applied here";
  const list = document.getElementById("changes");
  list.replaceChildren(...stack.changes.map((change) => {
    const item = el("li");
    item.append(el("code", change.address), el("span", ` ${change.action}: `, "muted"),
      el("span", change.reasons.join("; ")));
    if (change.forecast) item.append(el("div", change.forecast, "muted"));
    return item;
  }));
  document.getElementById("plan-cost").textContent = (stack.cost || []).join(" ");
  document.getElementById("changes-panel").hidden = stack.changes.length === 0;
  document.getElementById("planned-at").textContent = stack.planned_at ?
    `(planned ${new Date(stack.planned_at * 1000).toLocaleTimeString()})` : "";
}

// Jobs ------------------------------------------------------------------------------

function metricText(job) {
  if (job.trials && job.metric) {
    const best = job.trials.find((t) => t.best);
    return best ? `${job.metric} ${number(best.metric)} (trial ${best.id})` : job.metric;
  }
  const shown = {...job.metrics, ...job.reported};
  delete shown.step;
  const key = Object.keys(shown)[0];
  return key ? `${key} ${number(shown[key])}` : "-";
}

async function refreshJobs() {
  const answer = await getJSON("/api/jobs");
  state.jobs = answer.jobs;
  const body = document.querySelector("#jobs tbody");
  document.getElementById("no-jobs").hidden = answer.jobs.length > 0;
  document.getElementById("forecasts").textContent = answer.forecasts || "";
  const live = answer.jobs.filter(active);
  if (!state.chosenByUser || !answer.jobs.some((j) => j.name === state.selected)) {
    const first = live[0] || answer.jobs[0];
    state.selected = first ? first.name : null;
  }
  body.replaceChildren(...answer.jobs.map((job) => {
    const row = el("tr");
    row.dataset.job = job.name;
    if (job.name === state.selected) row.className = "selected";
    const name = el("td");
    name.append(el("strong", job.manifest || job.name), el("div", job.name, "muted"));
    const cpu = job.cpu_now !== null && job.cpu_now !== undefined ? `${number(job.cpu_now)} now` :
      job.mean_cpu !== null && job.mean_cpu !== undefined ? `${number(job.mean_cpu)} mean` : "-";
    const memory = job.memory_bytes_now ? `${mib(job.memory_bytes_now)} now` :
      job.peak_memory_bytes ? `${mib(job.peak_memory_bytes)} peak` : "-";
    row.append(name, el("td", job.state, `state-${job.state}`), el("td", job.scale_tier || "-"),
      el("td", duration(job.duration_seconds)), el("td", cpu), el("td", memory),
      el("td", metricText(job)), el("td", job.forecast_text || "-", "muted"));
    row.addEventListener("click", () => {
      state.selected = job.name;
      state.trial = null;
      state.chosenByUser = true;
      refresh();
    });
    return row;
  }));
  await refreshJob();
}

function jobLinks(job) {
  const links = document.getElementById("job-links");
  const found = [];
  if (job.tensorboard_url) found.push(["TensorBoard", job.tensorboard_url]);
  if (job.console_url) found.push(["Google Cloud console", job.console_url]);
  links.replaceChildren(...found.map(([text, href]) => {
    const link = el("a", text);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }).flatMap((link, i) => (i ? [el("span", " · "), link] : [link])));
}

function chooseTrial(job) {
  if (!job.trials || job.trials.length === 0) return null;
  if (state.trial && job.trials.some((t) => t.id === state.trial)) return state.trial;
  const running = job.trials.filter((t) => t.state === "RUNNING");
  const best = job.trials.find((t) => t.best);
  return (running[running.length - 1] || best || job.trials[job.trials.length - 1]).id;
}

async function refreshJob() {
  const job = state.jobs.find((j) => j.name === state.selected);
  document.getElementById("job").hidden = !job;
  if (!job) return;
  state.trial = chooseTrial(job);
  document.getElementById("job-name").textContent =
    job.name + (state.trial ? ` · trial ${state.trial}` : "");
  const badge = document.getElementById("job-state");
  badge.textContent = job.state;
  badge.className = `tag state-${job.state}`;
  document.getElementById("job-runtime").textContent =
    [job.scale_tier, job.runtime].filter(Boolean).join(" · ");
  jobLinks(job);
  const error = document.getElementById("job-error");
  error.hidden = !job.error;
  error.textContent = job.error || "";
  drawTrials(job);
  await Promise.all([refreshUsage(job), refreshLog(job)]);
}

// Trials ----------------------------------------------------------------------------

function drawTrials(job) {
  const panel = document.getElementById("trials-panel");
  panel.hidden = !job.trials || job.trials.length === 0;
  if (panel.hidden) return;
  document.getElementById("trials-metric").textContent = job.metric ? `(${job.metric})` : "";
  const body = document.querySelector("#trials tbody");
  body.replaceChildren(...job.trials.map((trial) => {
    const row = el("tr");
    if (trial.id === state.trial) row.className = "selected";
    const params = Object.entries(trial.params).map(([k, v]) => `${k}=${number(v) === "-" ? v : number(v)}`);
    row.append(el("td", trial.best ? "★" : ""), el("td", trial.id),
      el("td", trial.state + (trial.lost ? " (lost)" : ""), `state-${trial.state}`),
      el("td", number(trial.metric)), el("td", duration(trial.duration_seconds)),
      el("td", params.join(" ")));
    row.addEventListener("click", (event) => {
      event.stopPropagation();
      state.trial = trial.id;
      state.chosenByUser = true;
      refreshJob();
    });
    return row;
  }));
  const measured = job.trials.filter((t) => typeof t.metric === "number");
  const data = [measured.map((t) => Number(t.id)), measured.map((t) => t.metric)];
  drawChart("trials-chart", data, [{label: job.metric || "metric", stroke: "#1a73e8",
    paths: () => null, points: {show: true, size: 8}}], "trial", measured.length);
}

// CPU and memory --------------------------------------------------------------------

async function refreshUsage(job) {
  const key = `${job.name}/${state.trial || ""}`;
  const known = state.series[key] || (state.series[key] = {});
  const times = Object.values(known).flatMap((s) => s.time);
  const since = times.length ? Math.max(...times) : "";
  const params = new URLSearchParams({since});
  if (state.trial) params.set("trial", state.trial);
  const answer = await getJSON(`/api/jobs/${encodeURIComponent(job.name)}/usage?${params}`);
  const note = document.getElementById("usage-note");
  note.hidden = !answer.error;
  note.textContent = answer.error ? `${answer.error}${answer.hint ? ` (${answer.hint})` : ""}` : "";
  for (const [task, points] of Object.entries(answer.tasks || {})) {
    const into = known[task] || (known[task] = {time: [], cpu: [], memory_bytes: []});
    into.time.push(...points.time);
    into.cpu.push(...points.cpu);
    into.memory_bytes.push(...points.memory_bytes);
  }
  const tasks = Object.keys(known).sort();
  document.getElementById("job-tasks").textContent = tasks.length ? `· ${tasks.join(", ")}` : "";
  const select = document.getElementById("log-task");
  const wanted = tasks.length ? tasks : ["chief-0"];
  if ([...select.options].map((o) => o.value).join() !== wanted.join()) {
    const chosen = select.value;
    select.replaceChildren(...wanted.map((t) => el("option", t)));
    if (wanted.includes(chosen)) select.value = chosen;
  }
  drawUsage(known, tasks, "cpu", "cpu-chart", (v) => v);
  drawUsage(known, tasks, "memory_bytes", "memory-chart", (v) => v / 2 ** 20);
}

function drawUsage(known, tasks, field, id, scale) {
  // One x axis for every task: the union of their sample times (gaps where a task
  // had not started or had ended).
  const times = [...new Set(tasks.flatMap((t) => known[t].time))].sort((a, b) => a - b);
  const columns = tasks.map((task) => {
    const byTime = new Map(known[task].time.map((t, i) => [t, scale(known[task][field][i])]));
    return times.map((t) => (byTime.has(t) ? byTime.get(t) : null));
  });
  const colours = ["#1a73e8", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb"];
  const series = tasks.map((task, i) => ({label: task, stroke: colours[i % colours.length],
    width: 1.5, spanGaps: true}));
  const points = columns.reduce((sum, column) => sum + column.filter((v) => v !== null).length, 0);
  drawChart(id, [times, ...columns], series, "time", points);
}

function drawChart(id, data, series, xLabel, points) {
  const target = document.getElementById(id);
  target.dataset.points = String(points);
  const shape = series.map((s) => s.label).join("|");
  let chart = state.charts[id];
  if (chart && chart.shape !== shape) {
    chart.destroy();
    chart = null;
  }
  if (!chart) {
    target.replaceChildren();
    const width = Math.max(320, target.clientWidth || 480);
    chart = new uPlot({
      width, height: 200,
      scales: {x: {time: xLabel === "time"}},
      axes: [{label: xLabel === "time" ? "" : xLabel}, {}],
      series: [{}, ...series],
    }, data, target);
    chart.shape = shape;
    state.charts[id] = chart;
  } else {
    chart.setData(data);
  }
}

// Logs and models -------------------------------------------------------------------

async function refreshLog(job) {
  const params = new URLSearchParams({task: document.getElementById("log-task").value || "chief-0",
    lines: "200"});
  if (state.trial) params.set("trial", state.trial);
  const answer = await getJSON(`/api/jobs/${encodeURIComponent(job.name)}/log?${params}`);
  const log = document.getElementById("log");
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = answer.error ? `${answer.error}\n${answer.hint || ""}` : answer.lines.join("\n");
  if (atEnd) log.scrollTop = log.scrollHeight;
}

// A model's chart keeps its element across refreshes (the list around it is redrawn).
function servedHolder(model) {
  if (!Object.keys(model.served || {}).length) return null;
  const id = `served-${model.name}`;
  let holder = state.servedCharts[id];
  if (!holder) {
    holder = el("div", "", "chart");
    holder.id = id;
    holder.dataset.points = "0";
    state.servedCharts[id] = holder;
  }
  return holder;
}

function drawServed(model, id) {
  const versions = Object.keys(model.served).sort();
  const times = [...new Set(versions.flatMap((v) => model.served[v].time))].sort((a, b) => a - b);
  const colours = ["#1a73e8", "#e8710a", "#188038", "#a142f4", "#d93025", "#12b5cb"];
  const series = [];
  const columns = [];
  versions.forEach((version, i) => {
    const figures = model.served[version];
    for (const [field, dash] of [["requests", undefined], ["errors", [4, 4]]]) {
      const byTime = new Map(figures.time.map((t, j) => [t, figures[field][j]]));
      columns.push(times.map((t) => (byTime.has(t) ? byTime.get(t) : null)));
      series.push({label: `${version} ${field}`, stroke: colours[i % colours.length], width: 1.5,
        dash, spanGaps: false});
    }
  });
  const points = columns.reduce((sum, column) => sum + column.filter((v) => v !== null).length, 0);
  drawChart(id, [times, ...columns], series, "time", points);
}

async function refreshModels() {
  const answer = await getJSON("/api/models");
  const drawLater = [];
  const target = document.getElementById("models");
  const blocks = answer.models.map((model) => {
    const block = el("div");
    block.append(el("h3", model.name));
    if (model.console_url) {
      const link = el("a", "Google Cloud console");
      link.href = model.console_url;
      link.rel = "noopener noreferrer";
      block.append(link);
    }
    const list = el("ul");
    for (const version of model.versions) {
      const figures = Object.entries(version.deployed_with).map(([k, v]) => `${k} ${number(v)}`);
      list.append(el("li", `${version.name} ${version.state}` +
        (version.default ? " (default)" : "") +
        (version.traffic ? ` · ${version.traffic} % of traffic` : "") +
        (figures.length ? ` · deployed with ${figures.join(", ")}` : "") +
        (version.rollout_text ? ` · ${version.rollout_text}` : "")));
    }
    block.append(list);
    const served = servedHolder(model);
    if (served) {
      block.append(el("h4", "Requests and errors per minute, by version"), served);
      drawLater.push(() => drawServed(model, served.id));
    }
    return block;
  });
  for (const held of answer.held) {
    blocks.push(el("p", `${held.address} held: ${held.reasons.join("; ")}`, "error held"));
  }
  if (blocks.length === 0) blocks.push(el("p", "No models yet.", "muted"));
  target.replaceChildren(...blocks);
  for (const draw of drawLater) draw();
}

// The loop --------------------------------------------------------------------------

async function refresh() {
  try {
    await Promise.all([refreshJobs(), refreshModels()]);
  } catch (error) {
    console.error(error);
  }
}

document.getElementById("log-task").addEventListener("change", refresh);
refreshStack().catch(console.error);
refresh();
setInterval(refresh, REFRESH_MS);
setInterval(() => refreshStack().catch(console.error), STACK_REFRESH_MS);
