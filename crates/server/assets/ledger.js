// Re-checks an inclusion proof in the browser with WebCrypto, independently of the
// server: RFC 9162 §2.1.3.2, leaf = SHA-256(0x00 || entry), node = SHA-256(0x01 || l || r).
(function () {
  "use strict";
  const sec = document.getElementById("ledger-proof");
  const out = document.getElementById("ledger-browser-result");
  const textEl = document.getElementById("ledger-entry-text");
  if (!sec || !out || !textEl || !(window.crypto && crypto.subtle)) return;
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const sha = async (prefix, ...parts) => {
    const len = 1 + parts.reduce((n, p) => n + p.length, 0);
    const buf = new Uint8Array(len);
    buf[0] = prefix;
    let o = 1;
    for (const p of parts) { buf.set(p, o); o += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  };
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  (async () => {
    let fn = BigInt(sec.dataset.index);
    let sn = BigInt(sec.dataset.size) - 1n;
    const root = b64(sec.dataset.root);
    const hashes = Array.from(document.querySelectorAll(".proof-hash")).map((e) => b64(e.textContent.trim()));
    let r = await sha(0, new TextEncoder().encode(textEl.textContent));
    for (const p of hashes) {
      if (sn === 0n) { r = null; break; }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha(1, p, r);
        if ((fn & 1n) === 0n) { while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; } }
      } else {
        r = await sha(1, r, p);
      }
      fn >>= 1n; sn >>= 1n;
    }
    const ok = r !== null && sn === 0n && eq(r, root);
    out.textContent = ok ? "verified in your browser" : "does NOT verify";
    out.className = "badge " + (ok ? "badge-pass" : "badge-fail");
  })().catch((e) => { out.textContent = "error: " + e; out.className = "badge badge-fail"; });
})();
