// rawvision's page: list the ready pipelines, send pictures with the KServe v2 binary tensor extension,
// draw the answers on them. Plain JavaScript, no build step, no framework; the front's CSP allows only
// this file as script. Server strings are always set as text, never as HTML.
"use strict";

const KEY_STORAGE = "rawvision-inference-key";
const OPTION_NAMES = ["score_threshold", "iou_threshold", "max_detections"];
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
  "#fabed4", "#469990"];
const KIND_NAMES = { classify: "classifier", detect: "detector", ocr: "OCR" };

const page = {
  pipelines: new Map(), // name → {name, kind, inputName, batched, outputs, defaults}
  listed: false,
};

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, text = undefined) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    node.setAttribute(name, String(value));
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

// ---- the key ---------------------------------------------------------------------------------------

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch (_error) {
    return "";
  }
}

function authorization() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function showKey(reason) {
  const section = $("key-section");
  section.hidden = false;
  if (reason) {
    $("key-reason").textContent = reason;
  }
  $("key-input").focus();
}

function setUpKey() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) {
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $("key-input").value = "";
    $("key-section").hidden = true;
    setStatus("Key saved for this tab.");
    if (!page.listed) {
      listPipelines();
    }
  });
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("key-input").value = "";
    setStatus("Key forgotten.");
    $("key-input").focus();
  });
  $("key-open").addEventListener("click", () => {
    const section = $("key-section");
    if (section.hidden) {
      showKey("");
    } else {
      section.hidden = true;
    }
  });
}

// ---- calls -----------------------------------------------------------------------------------------

class CallError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") {
      return body.error;
    }
  } catch (_error) {
    // not JSON: nginx's or a proxy's own page
  }
  return text.trim().slice(0, 300) || response.statusText || `HTTP ${response.status}`;
}

// A JSON call to the server; a 401 opens the key prompt.
async function callJson(method, path, body) {
  const headers = { ...authorization() };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    const message = await errorMessage(response);
    if (response.status === 401) {
      showKey(`The server answered 401: ${message}. Enter the inference key to go on.`);
    }
    throw new CallError(response.status, message);
  }
  return response.json();
}

// ---- pipelines -------------------------------------------------------------------------------------

function kindOf(outputNames) {
  const has = (name) => outputNames.includes(name);
  if (has("TEXTS") && has("BOXES")) {
    return "ocr";
  }
  if (has("BOXES") && has("COUNT")) {
    return "detect";
  }
  if (has("LABELS") && has("SCORES")) {
    return "classify";
  }
  return null;
}

// The detection defaults: the parameters of the step that writes BOXES (its config.pbtxt).
async function detectionDefaults(config) {
  const steps = (config.ensemble_scheduling && config.ensemble_scheduling.step) || [];
  const step = steps.find((s) => Object.values(s.output_map || {}).includes("BOXES"));
  if (!step) {
    return {};
  }
  try {
    const stepConfig = await callJson("GET", `/v2/models/${encodeURIComponent(step.model_name)}/config`);
    const defaults = {};
    for (const name of OPTION_NAMES) {
      const parameter = (stepConfig.parameters || {})[name];
      if (parameter && parameter.string_value !== undefined) {
        defaults[name] = parameter.string_value;
      }
    }
    return defaults;
  } catch (_error) {
    return {};
  }
}

// An ensemble's kind and tensors from its config and metadata; null for anything the page cannot show.
async function describe(name) {
  const path = `/v2/models/${encodeURIComponent(name)}`;
  const config = await callJson("GET", `${path}/config`);
  if (config.platform !== "ensemble") {
    return null;
  }
  const metadata = await callJson("GET", path);
  const outputs = (metadata.outputs || []).map((o) => o.name);
  const kind = kindOf(outputs);
  const inputs = metadata.inputs || [];
  if (kind === null || inputs.length !== 1 || inputs[0].datatype !== "BYTES") {
    return null;
  }
  return {
    name,
    kind,
    outputs,
    inputName: inputs[0].name,
    batched: (config.max_batch_size || 0) > 0,
    defaults: kind === "detect" ? await detectionDefaults(config) : {},
  };
}

function requestedModel() {
  return new URLSearchParams(window.location.search).get("model") || "";
}

async function listPipelines() {
  const select = $("pipeline");
  setStatus("Listing the ready pipelines…");
  let names = [];
  let listError = "";
  try {
    const rows = await callJson("POST", "/v2/repository/index", { ready: true });
    names = [...new Set(rows.filter((r) => !r.state || r.state === "READY").map((r) => r.name))].sort();
  } catch (error) {
    if (error.status === 401) {
      setStatus("The server needs its inference key.");
      return;
    }
    listError = `Could not list the pipelines (${error.status || "network"}: ${error.message}).`;
    const wanted = requestedModel();
    names = wanted ? [wanted] : [];
  }
  const described = await Promise.all(names.map((name) => describe(name).catch(() => null)));
  page.pipelines.clear();
  for (const pipeline of described) {
    if (pipeline) {
      page.pipelines.set(pipeline.name, pipeline);
    }
  }
  page.listed = true;
  select.replaceChildren();
  for (const pipeline of page.pipelines.values()) {
    select.append(element("option", { value: pipeline.name }, `${pipeline.name} (${KIND_NAMES[pipeline.kind]})`));
  }
  select.disabled = page.pipelines.size === 0;
  const wanted = requestedModel();
  if (wanted && page.pipelines.has(wanted)) {
    select.value = wanted;
  }
  choosePipeline(false);
  const missing = wanted && !page.pipelines.has(wanted) ? ` No ready pipeline is named "${wanted}".` : "";
  if (page.pipelines.size === 0) {
    select.append(element("option", { value: "" }, "no pipeline"));
    setStatus(`${listError} No ready pipeline this page can show.${missing}`.trim());
  } else {
    setStatus(`${listError} ${page.pipelines.size} ready pipelines.${missing}`.trim());
  }
}

function currentPipeline() {
  return page.pipelines.get($("pipeline").value) || null;
}

function choosePipeline(updateUrl) {
  const pipeline = currentPipeline();
  const options = $("options");
  if (!pipeline) {
    $("pipeline-info").textContent = "";
    options.hidden = true;
    return;
  }
  const shows = {
    classify: "the top labels with their scores",
    detect: "boxes, labels and scores drawn on the picture, and how many",
    ocr: "each line's box drawn on the picture, and its text",
  }[pipeline.kind];
  $("pipeline-info").textContent = `${KIND_NAMES[pipeline.kind]}: ${shows}. Outputs ${pipeline.outputs.join(", ")}.`;
  options.hidden = pipeline.kind !== "detect";
  for (const name of OPTION_NAMES) {
    $(name).value = pipeline.defaults[name] !== undefined ? pipeline.defaults[name] : "";
  }
  if (updateUrl) {
    const url = new URL(window.location.href);
    url.searchParams.set("model", pipeline.name);
    window.history.replaceState(null, "", url);
  }
}

function requestParameters(pipeline) {
  if (pipeline.kind !== "detect") {
    return null;
  }
  const parameters = {};
  for (const name of OPTION_NAMES) {
    const raw = $(name).value.trim();
    if (raw !== "") {
      parameters[name] = name === "max_detections" ? parseInt(raw, 10) : parseFloat(raw);
    }
  }
  return Object.keys(parameters).length ? parameters : null;
}

// ---- the binary tensor extension -------------------------------------------------------------------

function inferBody(pipeline, bytes, parameters) {
  const header = {
    inputs: [{
      name: pipeline.inputName,
      shape: pipeline.batched ? [1, 1] : [1],
      datatype: "BYTES",
      parameters: { binary_data_size: bytes.length + 4 },
    }],
    outputs: pipeline.outputs.map((name) => ({ name, parameters: { binary_data: true } })),
  };
  if (parameters) {
    header.parameters = parameters;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const body = new Uint8Array(json.length + 4 + bytes.length);
  body.set(json, 0);
  new DataView(body.buffer).setUint32(json.length, bytes.length, true);
  body.set(bytes, json.length + 4);
  return { body, headerLength: json.length };
}

function decodeTensor(datatype, buffer, offset, size) {
  const slice = buffer.slice(offset, offset + size);
  switch (datatype) {
    case "FP32":
      return Array.from(new Float32Array(slice));
    case "FP64":
      return Array.from(new Float64Array(slice));
    case "INT32":
      return Array.from(new Int32Array(slice));
    case "INT64":
      return Array.from(new BigInt64Array(slice), Number);
    case "BYTES": {
      const view = new DataView(slice);
      const decoder = new TextDecoder();
      const values = [];
      for (let at = 0; at + 4 <= size;) {
        const length = view.getUint32(at, true);
        values.push(decoder.decode(new Uint8Array(slice, at + 4, length)));
        at += 4 + length;
      }
      return values;
    }
    default:
      throw new Error(`unsupported output type ${datatype}`);
  }
}

function parseInferResponse(response, buffer) {
  const declared = response.headers.get("Inference-Header-Content-Length");
  const jsonLength = declared === null ? buffer.byteLength : parseInt(declared, 10);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 0, jsonLength)));
  const tensors = {};
  let offset = jsonLength;
  for (const output of header.outputs || []) {
    const size = output.parameters && output.parameters.binary_data_size;
    if (size !== undefined) {
      tensors[output.name] = { shape: output.shape, data: decodeTensor(output.datatype, buffer, offset, size) };
      offset += size;
    } else {
      tensors[output.name] = { shape: output.shape, data: output.data || [] };
    }
  }
  return tensors;
}

// Until Triton answered, as nginx saw it (Server-Timing: upstream;desc="0.012", or "0.001, 0.012" after a retry).
function upstreamSeconds(response) {
  const header = response.headers.get("Server-Timing") || "";
  const match = header.match(/upstream;desc="([^"]*)"/);
  if (!match) {
    return null;
  }
  const figures = match[1].split(/[,:]\s*/).map(Number).filter((x) => Number.isFinite(x));
  return figures.length ? figures.reduce((a, b) => a + b, 0) : null;
}

async function infer(pipeline, file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const { body, headerLength } = inferBody(pipeline, bytes, requestParameters(pipeline));
  const started = performance.now();
  const response = await fetch(`/v2/models/${encodeURIComponent(pipeline.name)}/infer`, {
    method: "POST",
    headers: {
      ...authorization(),
      "Content-Type": "application/octet-stream",
      "Inference-Header-Content-Length": String(headerLength),
    },
    body,
  });
  const buffer = await response.arrayBuffer();
  const milliseconds = performance.now() - started;
  const upstream = upstreamSeconds(response);
  if (!response.ok) {
    let message = new TextDecoder().decode(buffer);
    try {
      message = JSON.parse(message).error || message;
    } catch (_error) {
      message = message.trim().slice(0, 300) || `HTTP ${response.status}`;
    }
    if (response.status === 401) {
      showKey(`The server answered 401: ${message}. Enter the inference key, then send the picture again.`);
    }
    return { ok: false, status: response.status, message, milliseconds, upstream };
  }
  return { ok: true, status: response.status, tensors: parseInferResponse(response, buffer), milliseconds, upstream };
}

// ---- drawing ---------------------------------------------------------------------------------------

async function pictureOf(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (_error) {
    return null;
  }
}

function pictureCanvas(bitmap, name) {
  const canvas = element("canvas", { width: bitmap.width, height: bitmap.height, role: "img", "aria-label": name });
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  if (Math.max(bitmap.width, bitmap.height) < 160) {
    canvas.classList.add("small"); // a 28 × 28 digit is shown enlarged, its pixels kept sharp
  }
  return canvas;
}

function strokeWidth(canvas) {
  return Math.max(2, Math.round(Math.max(canvas.width, canvas.height) / 300));
}

function drawTag(context, text, x, y, colour, size) {
  context.font = `${size}px sans-serif`;
  const width = context.measureText(text).width + size * 0.5;
  const top = y - size * 1.3 >= 0 ? y - size * 1.3 : y;
  context.fillStyle = colour;
  context.fillRect(x, top, width, size * 1.3);
  context.fillStyle = "#ffffff";
  context.textBaseline = "top";
  context.fillText(text, x + size * 0.25, top + size * 0.15);
}

function percent(score) {
  return `${(score * 100).toFixed(1)} %`;
}

function showClassification(answer, tensors) {
  const labels = tensors.LABELS.data;
  const scores = tensors.SCORES.data;
  const list = element("ol", { class: "labels" });
  labels.forEach((label, i) => {
    const item = element("li", { "data-label": label, "data-score": scores[i] });
    const id = `bar-${Math.random().toString(36).slice(2)}`;
    item.append(element("label", { for: id }, `${label}`));
    item.append(element("meter", { id, min: 0, max: 1, value: scores[i] }, percent(scores[i])));
    item.append(element("span", { class: "score" }, percent(scores[i])));
    list.append(item);
  });
  answer.append(element("p", { class: "summary" }, labels.length ? `Top label: ${labels[0]}` : "No label."));
  answer.append(list);
}

function showDetections(answer, tensors, canvas) {
  const count = tensors.COUNT.data[0];
  const boxes = [];
  for (let i = 0; i < count; i += 1) {
    boxes.push(tensors.BOXES.data.slice(4 * i, 4 * i + 4));
  }
  const labels = tensors.LABELS.data.slice(0, count);
  const scores = tensors.SCORES.data.slice(0, count);
  const classes = tensors.CLASS_IDS ? tensors.CLASS_IDS.data.slice(0, count) : boxes.map(() => 0);
  answer.append(element("p", { class: "summary count", "data-count": count },
    `${count} ${count === 1 ? "detection" : "detections"}`));
  const list = element("ol", { class: "detections" });
  boxes.forEach((box, i) => {
    const rounded = box.map((v) => Math.round(v));
    list.append(element("li", {}, `${labels[i] || classes[i]} ${percent(scores[i])} at (${rounded[0]}, ${rounded[1]})–(${rounded[2]}, ${rounded[3]})`));
  });
  answer.append(list);
  if (!canvas) {
    return;
  }
  const context = canvas.getContext("2d");
  const width = strokeWidth(canvas);
  const size = Math.max(12, width * 6);
  boxes.forEach(([x1, y1, x2, y2], i) => {
    const colour = COLOURS[classes[i] % COLOURS.length];
    context.lineWidth = width;
    context.strokeStyle = colour;
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    drawTag(context, `${labels[i] || classes[i]} ${scores[i].toFixed(2)}`, x1, y1, colour, size);
  });
  if (tensors.LANDMARKS) {
    context.fillStyle = "#00ff00";
    for (let i = 0; i < count; i += 1) {
      for (let p = 0; p < 5; p += 1) {
        const at = (i * 5 + p) * 2;
        context.beginPath();
        context.arc(tensors.LANDMARKS.data[at], tensors.LANDMARKS.data[at + 1], width, 0, 2 * Math.PI);
        context.fill();
      }
    }
  }
  canvas.dataset.boxes = JSON.stringify(boxes);
  canvas.dataset.count = String(count);
  canvas.setAttribute("aria-label", `${canvas.getAttribute("aria-label")}: ${count} boxes drawn`);
}

function showLines(answer, tensors, canvas) {
  const texts = tensors.TEXTS.data;
  const scores = tensors.SCORES ? tensors.SCORES.data : [];
  const quads = texts.map((_t, i) => {
    const flat = tensors.BOXES.data.slice(8 * i, 8 * i + 8);
    return [[flat[0], flat[1]], [flat[2], flat[3]], [flat[4], flat[5]], [flat[6], flat[7]]];
  });
  answer.append(element("p", { class: "summary count", "data-count": texts.length },
    `${texts.length} ${texts.length === 1 ? "line" : "lines"}`));
  const list = element("ol", { class: "lines" });
  texts.forEach((text, i) => {
    const item = element("li", { "data-text": text });
    item.append(element("span", { class: "line-text" }, text));
    if (scores[i] !== undefined) {
      item.append(element("span", { class: "score" }, ` ${percent(scores[i])}`));
    }
    list.append(item);
  });
  answer.append(list);
  if (!canvas) {
    return;
  }
  const context = canvas.getContext("2d");
  const width = strokeWidth(canvas);
  quads.forEach((quad, i) => {
    const colour = COLOURS[i % COLOURS.length];
    context.lineWidth = width;
    context.strokeStyle = colour;
    context.beginPath();
    quad.forEach(([x, y], corner) => (corner ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.closePath();
    context.stroke();
    drawTag(context, String(i + 1), quad[0][0], quad[0][1], colour, Math.max(12, width * 6));
  });
  canvas.dataset.boxes = JSON.stringify(quads);
  canvas.dataset.count = String(texts.length);
  canvas.setAttribute("aria-label", `${canvas.getAttribute("aria-label")}: ${texts.length} lines drawn`);
}

function timing(result) {
  let text = `round trip ${Math.round(result.milliseconds)} ms`;
  if (result.upstream !== null && result.upstream !== undefined) {
    text += ` (server ${Math.round(result.upstream * 1000)} ms)`;
  }
  return text;
}

async function tryFile(pipeline, file) {
  const card = element("li", { class: "result", "data-file": file.name, "data-state": "pending" });
  card.append(element("h3", {}, file.name));
  const body = element("div", { class: "result-body" });
  const figure = element("figure", { class: "picture" });
  const answer = element("div", { class: "answer" });
  body.append(figure, answer);
  card.append(body);
  answer.append(element("p", { class: "muted" }, `Sending to ${pipeline.name}…`));
  $("results").prepend(card);

  const bitmap = await pictureOf(file);
  const canvas = bitmap ? pictureCanvas(bitmap, file.name) : null;
  if (canvas) {
    figure.append(canvas);
    figure.append(element("figcaption", { class: "muted" }, `${bitmap.width} × ${bitmap.height} px`));
  } else {
    figure.append(element("p", { class: "muted" }, "(the browser cannot show this file as a picture)"));
  }
  let result;
  try {
    result = await infer(pipeline, file);
  } catch (error) {
    result = { ok: false, status: 0, message: `the call failed: ${error.message}`, milliseconds: 0, upstream: null };
  }
  answer.replaceChildren();
  card.dataset.status = String(result.status);
  if (!result.ok) {
    card.dataset.state = "error";
    const what = result.status ? `${result.status}: ` : "";
    answer.append(element("p", { class: "error", role: "alert" }, `Refused (${what}${result.message})`));
  } else {
    card.dataset.state = "done";
    if (pipeline.kind === "classify") {
      showClassification(answer, result.tensors);
    } else if (pipeline.kind === "detect") {
      showDetections(answer, result.tensors, canvas);
    } else {
      showLines(answer, result.tensors, canvas);
    }
  }
  if (result.status) {
    answer.append(element("p", { class: "timing muted" }, timing(result)));
  }
}

async function tryFiles(files) {
  const pipeline = currentPipeline();
  if (!pipeline) {
    setStatus("Choose a pipeline first.");
    return;
  }
  const list = Array.from(files);
  for (let i = 0; i < list.length; i += 1) {
    setStatus(`Sending ${i + 1} of ${list.length} to ${pipeline.name}…`);
    await tryFile(pipeline, list[i]);
  }
  setStatus(`Done: ${list.length} ${list.length === 1 ? "file" : "files"} sent to ${pipeline.name}.`);
}

function setStatus(text) {
  $("status").textContent = text;
}

function setUpFiles() {
  const input = $("files");
  input.addEventListener("change", async () => {
    const files = Array.from(input.files || []);
    input.value = "";
    await tryFiles(files);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    tryFiles(event.dataTransfer.files);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpKey();
  setUpFiles();
  $("pipeline").addEventListener("change", () => choosePipeline(true));
  listPipelines();
});
