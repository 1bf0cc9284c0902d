// roomctl browser client: speaks PROTOCOL.md (room protocol v1) and logs
// the SDK's callbacks with roomctl's event names and payloads. With
// ?report=URL every logged line is also POSTed there (tests read it). The
// lines carry the token (token_will_expire), so URL must be of this page's
// origin (a path such as /report, or a full URL with this scheme, host and
// port); any other is refused and page_report_refused is logged. The page's
// Content-Security-Policy (connect-src 'self') would block it anyway.
"use strict";

const params = new URLSearchParams(location.search);
const form = document.getElementById("form");
const tilesEl = document.getElementById("tiles");
const logEl = document.getElementById("log");
const joinBtn = document.getElementById("join");
const leaveBtn = document.getElementById("leave");
const report = sameOrigin(params.get("report"));

// sameOrigin returns url resolved against the page if it is of the page's
// origin, else null.
function sameOrigin(url) {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.origin === location.origin ? u.href : null;
  } catch (e) {
    return null;
  }
}

for (const k of ["app", "room", "uid", "token", "codec"]) {
  if (params.has(k)) form.elements[k].value = params.get(k);
}
if (params.get("publish") === "0") form.elements.publish.checked = false;

let seq = 0;
// emit logs one callback as roomctl prints it: {seq, ts, event, data}.
function emit(event, data) {
  const line = JSON.stringify({ seq: ++seq, ts: new Date().toISOString(), event, data });
  logEl.textContent += line + "\n";
  logEl.scrollTop = logEl.scrollHeight;
  if (report) {
    // A text/plain POST is a CORS "simple request": no preflight.
    fetch(report, { method: "POST", body: line }).catch(() => {});
  }
}

if (params.get("report") && !report) emit("page_report_refused", { reason: "?report= must be a URL of this page's origin" });
// A blocked resource is a bug of the page: log it (tests look for it).
document.addEventListener("securitypolicyviolation", (e) =>
  emit("page_csp_violation", { directive: e.effectiveDirective, blocked: e.blockedURI }));

let s = null; // the session: {ws, uid, roomId, pub, sub, ...}

function send(msg) {
  if (params.get("debug") === "1" && msg.sdp) emit("page_sdp_sent", { pc: msg.pc, type: msg.type, sdp: msg.sdp });
  if (s && s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify(msg));
}

// remoteStream converts a protocol Stream to the SDK's RemoteStream.
function remoteStream(st) {
  const rs = { uid: st.uid, roomId: st.roomId };
  for (const t of st.tracks || []) {
    if (t.kind === "audio") rs.audio = { sampleRate: t.sampleRate || 0, channel: t.channel || 0, bitrate: t.bitrate || 0 };
    if (t.kind === "video") rs.video = { width: t.width || 0, height: t.height || 0, bitrate: t.bitrate || 0, frameRate: t.frameRate || 0, codec: t.codec || "" };
  }
  return rs;
}

function candidateJSON(c) {
  return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex };
}

function newPC(name) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.onicecandidate = (e) => {
    if (e.candidate && e.candidate.candidate) send({ type: "candidate", pc: name, candidate: candidateJSON(e.candidate) });
  };
  pc.pending = []; // remote candidates that came before the remote description
  pc.onconnectionstatechange = () => emit("page_pc_state", { pc: name, state: pc.connectionState });
  return pc;
}

async function addRemoteCandidate(pc, c) {
  if (!pc || !pc.remoteDescription) {
    if (pc) pc.pending.push(c);
    return;
  }
  await pc.addIceCandidate(c);
}

async function flushCandidates(pc) {
  const list = pc.pending;
  pc.pending = [];
  for (const c of list) await pc.addIceCandidate(c);
}

// preferCodec puts codec (and its RTX) first; for H.264 the constrained
// baseline packetization-mode=1 profile first, as most receivers decode it.
function preferCodec(codec) {
  const caps = RTCRtpSender.getCapabilities("video");
  if (!caps) return null;
  const mime = "video/" + codec;
  let wanted = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase());
  if (codec === "H264") {
    const score = (c) => {
      const f = c.sdpFmtpLine || "";
      return (f.includes("profile-level-id=42e01f") ? 0 : 2) + (f.includes("packetization-mode=1") ? 0 : 1);
    };
    wanted.sort((a, b) => score(a) - score(b));
  }
  if (wanted.length === 0) return null;
  const rest = caps.codecs.filter((c) => /rtx|red|ulpfec/i.test(c.mimeType));
  return wanted.concat(rest);
}

async function publish() {
  const codec = (form.elements.codec.value || "vp8").toLowerCase() === "h264" ? "H264" : "VP8";
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: 30 } });
  s.media = media;
  addTile(s.uid + " (local)", media, true);
  const pc = newPC("publish");
  s.pub = pc;
  const tracks = [];
  for (const track of media.getTracks()) {
    const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
    const st = track.getSettings();
    if (track.kind === "video") {
      const prefs = preferCodec(codec);
      if (!prefs) throw new Error("this browser cannot send " + codec);
      tr.setCodecPreferences(prefs);
      tracks.push({ kind: "video", codec, width: st.width || 640, height: st.height || 480, frameRate: Math.round(st.frameRate || 30) });
    } else {
      tracks.push({ kind: "audio", codec: "opus", sampleRate: 48000, channel: st.channelCount || 1 });
    }
  }
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  send({ type: "offer", pc: "publish", sdp: offer.sdp, tracks });
}

// Subscribe side: the server offers, the page answers.
async function onSubscribeOffer(sdp) {
  if (!s.sub) {
    const pc = newPC("subscribe");
    s.sub = pc;
    pc.ontrack = (e) => {
      const uid = e.streams[0] ? e.streams[0].id : e.track.id.replace(/-(audio|video)$/, "");
      let ms = s.remote.get(uid);
      if (!ms) {
        ms = new MediaStream();
        s.remote.set(uid, ms);
      }
      ms.addTrack(e.track);
      addTile(uid, ms, false);
    };
  }
  const pc = s.sub;
  await pc.setRemoteDescription({ type: "offer", sdp });
  await flushCandidates(pc);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  send({ type: "answer", pc: "subscribe", sdp: answer.sdp });
}

function addTile(label, stream, local) {
  let tile = document.getElementById("tile-" + label);
  if (!tile) {
    tile = document.createElement("div");
    tile.className = "tile";
    tile.id = "tile-" + label;
    const v = document.createElement("video");
    v.autoplay = true;
    v.playsInline = true;
    v.muted = local;
    const span = document.createElement("span");
    span.textContent = label;
    tile.append(v, span);
    tilesEl.append(tile);
  }
  const v = tile.querySelector("video");
  if (v.srcObject !== stream) v.srcObject = stream;
  v.play().catch(() => {
    // Autoplay with sound may be refused; play muted instead.
    v.muted = true;
    v.play().catch(() => {});
  });
}

function removeTile(uid) {
  const tile = document.getElementById("tile-" + uid);
  if (tile) tile.remove();
  if (s) s.remote.delete(uid);
}

// pollStats turns getStats into first_*_frame_decode and reports decode
// counters (page_stats) so that a test can see frames being decoded.
async function pollStats() {
  if (!s || !s.sub) return;
  const stats = await s.sub.getStats();
  stats.forEach((r) => {
    if (r.type !== "inbound-rtp") return;
    const uid = (r.trackIdentifier || "").replace(/-(audio|video)$/, "");
    if (!uid) return;
    const key = uid + "/" + r.kind;
    if (r.kind === "video" && r.framesDecoded > 0 && !s.first.has(key)) {
      s.first.add(key);
      emit("first_video_frame_decode", { uid, roomId: s.roomId });
    }
    if (r.kind === "audio" && r.totalSamplesReceived > 0 && !s.first.has(key)) {
      s.first.add(key);
      emit("first_audio_frame_decode", { uid, roomId: s.roomId });
    }
    if (r.kind === "video") {
      emit("page_stats", { uid, kind: r.kind, codec: codecOf(stats, r.codecId), packetsReceived: r.packetsReceived || 0, framesDecoded: r.framesDecoded || 0 });
    }
  });
}

function codecOf(stats, id) {
  const c = id && stats.get(id);
  return c ? c.mimeType.replace(/^video\//, "") : "";
}

async function onMessage(msg) {
  if (params.get("debug") === "1" && msg.sdp) emit("page_sdp_received", { pc: msg.pc, type: msg.type, sdp: msg.sdp });
  switch (msg.type) {
    case "join_result":
      if ((msg.result || 0) !== 0) {
        emit("sdk_auth_result", { uid: s.uid, result: msg.result });
        return;
      }
      s.session = msg.session;
      emit("connected", { uid: s.uid, roomId: s.roomId });
      emit("sdk_auth_result", { uid: s.uid, result: 0 });
      for (const st of msg.streams || []) emit("remote_stream_add", remoteStream(st));
      if (form.elements.publish.checked) await publish();
      return;
    case "answer":
      if (msg.pc === "publish" && s.pub) {
        await s.pub.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        await flushCandidates(s.pub);
      }
      return;
    case "offer":
      if (msg.pc === "subscribe") await onSubscribeOffer(msg.sdp);
      return;
    case "candidate":
      await addRemoteCandidate(msg.pc === "publish" ? s.pub : s.sub, msg.candidate);
      return;
    case "stream_add":
      emit("remote_stream_add", remoteStream(msg.stream));
      return;
    case "stream_update":
      emit("remote_stream_update", remoteStream(msg.stream));
      return;
    case "stream_remove":
      emit("remote_stream_remove", remoteStream(msg.stream));
      removeTile(msg.stream.uid);
      return;
    case "publish_refused":
      emit("publish_auth_fail", { uid: s.uid, result: msg.result });
      return;
    case "auth_result":
      emit("sdk_auth_result", { uid: s.uid, result: msg.result || 0 });
      return;
    case "token_will_expire":
      emit("token_will_expire", { uid: s.uid, token: msg.token });
      return;
    case "token_request":
      emit("token_request", { uid: s.uid });
      return;
    case "pong":
      return;
    default:
      // error, bye and anything else: not an SDK callback, logged as is.
      emit("page_" + msg.type, msg);
  }
}

function join() {
  const f = form.elements;
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/rtc");
  s = { ws, uid: f.uid.value, roomId: f.room.value, pub: null, sub: null, remote: new Map(), first: new Set(), chain: Promise.resolve() };
  const sess = s;
  ws.onopen = () => {
    send({ type: "join", appId: f.app.value, roomId: sess.roomId, uid: sess.uid, token: f.token.value, version: 1 });
    sess.ping = setInterval(() => send({ type: "ping", ts: Date.now() }), 5000);
    sess.stats = setInterval(() => pollStats().catch((e) => emit("page_error", { reason: String(e) })), 500);
  };
  // Messages are handled one after another: an offer's answer must be set
  // before the candidates that follow it are added.
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    sess.chain = sess.chain.then(() => onMessage(msg)).catch((err) => emit("page_error", { reason: String(err) }));
  };
  ws.onclose = () => {
    emit("page_socket_closed", { uid: sess.uid });
    stop(sess);
  };
  joinBtn.disabled = true;
  leaveBtn.disabled = false;
}

function stop(sess) {
  clearInterval(sess.ping);
  clearInterval(sess.stats);
  if (sess.pub) sess.pub.close();
  if (sess.sub) sess.sub.close();
  if (sess.media) sess.media.getTracks().forEach((t) => t.stop());
  tilesEl.textContent = "";
  if (s === sess) s = null;
  joinBtn.disabled = false;
  leaveBtn.disabled = true;
}

function leave() {
  if (!s) return;
  send({ type: "leave" });
  const sess = s;
  stop(sess);
  sess.ws.close();
}

joinBtn.onclick = join;
leaveBtn.onclick = leave;
if (params.get("autojoin") === "1") join();
