// Orbit status page. Plain JavaScript, no dependency: it renders the
// snapshots the server pushes on /api/v1/events (server-sent events) and
// falls back to polling /api/v1/status when the stream is refused.
"use strict";

(function () {
  var POLL_MS = 5000;
  var prev = null; // the previous snapshot, to announce what changed
  var pollTimer = null;
  var AUDIT_SHOWN = 12; // events in the table; the rest behind "Show all"
  var auditAll = false;
  var source = null;

  function $(id) { return document.getElementById(id); }

  // el builds an element: el("td", {class: "num", "data-label": "Leases"}, "3", child...).
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== undefined && attrs[k] !== null) { e.setAttribute(k, attrs[k]); }
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === undefined || c === null) { continue; }
      e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return e;
  }

  function badge(text, cls) { return el("span", { "class": "badge " + (cls || text) }, text); }

  function seconds(ms) {
    var s = ms / 1000;
    if (Math.abs(s) < 10) { return s.toFixed(1) + " s"; }
    if (Math.abs(s) < 120) { return Math.round(s) + " s"; }
    if (Math.abs(s) < 7200) { return Math.round(s / 60) + " min"; }
    return Math.round(s / 3600) + " h";
  }

  // relative renders t against the server's time now (both ISO strings).
  function relative(t, now) {
    if (!t) { return "—"; }
    var d = Date.parse(t) - Date.parse(now);
    if (isNaN(d)) { return t; }
    if (Math.abs(d) < 100) { return "now"; }
    return d >= 0 ? "in " + seconds(d) : seconds(-d) + " ago";
  }

  function timeEl(t, now) {
    if (!t) { return document.createTextNode("—"); }
    return el("time", { datetime: t, title: t }, relative(t, now));
  }

  function chips(list, label) {
    var ul = el("ul", { "class": "chips", "aria-label": label });
    (list || []).forEach(function (c) { ul.appendChild(el("li", null, c)); });
    if (!list || list.length === 0) { ul.appendChild(el("li", null, "none")); }
    return ul;
  }

  function kv(pairs) {
    var dl = el("dl", { "class": "kv" });
    pairs.forEach(function (p) {
      if (p[1] === undefined || p[1] === null || p[1] === "") { return; }
      dl.appendChild(el("dt", null, p[0]));
      dl.appendChild(el("dd", null, p[1]));
    });
    return dl;
  }

  function leasesText(n) {
    if (n.leases < 0) { return "—"; }
    return (n.leases_at_least ? "≥ " : "") + n.leases;
  }

  function renderServer(st) {
    var s = st.server;
    var parts = ["default namespace " + s.default_namespace];
    if (s.version) { parts.unshift("Orbit " + s.version + (s.revision ? " (" + s.revision.slice(0, 12) + ")" : "")); }
    parts.push("node lease " + seconds(s.node_lease_ttl_seconds * 1000));
    parts.push(s.ready ? "ready" : "NOT READY");
    if (!s.watching) { parts.push("membership changes seen at the 2 s refresh (no directory watch)"); }
    $("server-info").textContent = parts.join(" · ");
    var errs = $("errors");
    if (st.errors && st.errors.length) {
      errs.textContent = st.errors.join("; ");
      errs.hidden = false;
    } else {
      errs.textContent = "";
      errs.hidden = true;
    }
    var ns = $("lk-ns");
    ns.placeholder = s.default_namespace;
  }

  function renderNamespaces(st) {
    var box = el("div", { id: "namespaces" });
    if (!st.namespaces || st.namespaces.length === 0) {
      box.appendChild(el("p", { "class": "empty" }, "No live nodes."));
    }
    (st.namespaces || []).forEach(function (ns) {
      var sec = el("section", { "class": "namespace", "data-namespace": ns.name, "aria-label": "Namespace " + ns.name });
      sec.appendChild(el("h3", null, "Namespace ", el("code", null, ns.name), " — " + ns.nodes_total + " live node" + (ns.nodes_total === 1 ? "" : "s")));
      if (ns.nodes.length === 0) {
        sec.appendChild(el("p", { "class": "empty" }, "No live nodes in this namespace."));
        box.appendChild(sec);
        return;
      }
      var table = el("table", { "class": "stack" },
        el("caption", null, "Live nodes of namespace " + ns.name + (ns.truncated ? " (first " + ns.nodes.length + " of " + ns.nodes_total + ")" : "")),
        el("thead", null, el("tr", null,
          el("th", { scope: "col" }, "Node"), el("th", { scope: "col" }, "Status"), el("th", { scope: "col" }, "URL"),
          el("th", { scope: "col" }, "Lease expires"), el("th", { scope: "col", "class": "num" }, "Leases held"),
          el("th", { scope: "col" }, "Types"), el("th", { scope: "col", "class": "num" }, "Incarnation"))));
      var body = el("tbody");
      ns.nodes.forEach(function (n) {
        body.appendChild(el("tr", { "class": "node", "data-node": n.key, "data-status": n.status },
          el("td", { "data-label": "Node" }, el("code", null, n.key)),
          el("td", { "data-label": "Status" }, badge(n.status)),
          el("td", { "data-label": "URL" }, el("code", null, n.url || "—")),
          el("td", { "data-label": "Lease expires" }, timeEl(n.lease_expires_at, st.generated_at)),
          el("td", { "data-label": "Leases held", "class": "num leases" }, leasesText(n)),
          el("td", { "data-label": "Types" }, (n.addressable_types || []).join(", ") || "any"),
          el("td", { "data-label": "Incarnation", "class": "num" }, String(n.incarnation))));
      });
      table.appendChild(body);
      sec.appendChild(el("div", { "class": "table-wrap" }, table));
      box.appendChild(sec);
    });
    if (st.namespaces_truncated) {
      box.appendChild(el("p", { "class": "empty" }, "More namespaces have nodes than are shown."));
    }
    $("namespaces").replaceWith(box);
  }

  function renderProviders(st) {
    var box = el("div", { id: "providers", "class": "cards" });
    (st.providers || []).forEach(function (p) {
      var card = el("article", { "class": "card provider", "data-provider": p.name, "data-health": p.health, "aria-label": "Provider " + p.name });
      card.appendChild(el("h3", null, el("code", null, p.name), " ", badge(p.health)));
      card.appendChild(kv([
        ["Type", p.type],
        ["Serves", (p.roles && p.roles.length) ? p.roles.join(" and ") + " (default)" : "not a default"],
        ["Reason", p.reason],
        ["Checked", p.checked_at ? relative(p.checked_at, st.generated_at) : "not yet"],
        ["Serving side", p.composite ? p.composite.active : null]
      ]));
      card.appendChild(el("p", { "class": "hint" }, "Capabilities"));
      card.appendChild(chips(p.capabilities, "Capabilities of " + p.name));
      if (p.composite) {
        var c = p.composite;
        card.appendChild(el("p", { "class": "composite" }, "Serving from the ", el("strong", { "class": "active-side" }, c.active),
          " since " + relative(c.since, st.generated_at) + " (generation " + c.generation + ")" +
          (c.standby_behind ? "; the standby may miss writes" : "; the standby is in sync")));
        var ul = el("ul", { "class": "sides", "aria-label": "Sides of " + p.name });
        c.sides.forEach(function (sd) {
          ul.appendChild(el("li", { "data-side": sd.role, title: sd.reason || "" },
            el("strong", null, sd.role), sd.role === c.active ? " (serving)" : "", ": ", el("code", null, sd.name), " ",
            badge(sd.health), sd.consecutive_failures ? " " + sd.consecutive_failures + " failed probes" : ""));
        });
        card.appendChild(ul);
        if (c.last_failover) { card.appendChild(el("p", { "class": "hint" }, "Last failover " + relative(c.last_failover, st.generated_at))); }
      }
      box.appendChild(card);
    });
    if (!st.providers || st.providers.length === 0) { box.appendChild(el("p", { "class": "empty" }, "No provider checked yet.")); }
    $("providers").replaceWith(box);
  }

  function auditRow(e, now) {
    var subject = e.reference || (e.node ? (e.namespace ? e.namespace + "/" : "") + e.node : "") ||
      (e.from ? e.from + " → " + e.to : "");
    if (e.reference && e.node) { subject += " on " + e.node; }
    return el("tr", { "class": "event", "data-event": e.event },
      el("td", { "data-label": "When" }, timeEl(e.time, now)),
      el("td", { "data-label": "Event" }, el("code", null, e.event)),
      el("td", { "data-label": "Outcome", title: e.reason || "" }, badge(e.outcome), e.code ? " " + e.code : ""),
      el("td", { "data-label": "Subject" }, subject),
      el("td", { "data-label": "By" }, e.identity || ""));
  }

  function renderAudit(st) {
    var box = el("div", { id: "audit" });
    if (!st.audit) {
      box.appendChild(el("p", { "class": "empty" }, "The audit log is off (see [server.audit] in the configuration)."));
    } else if (st.audit.events.length === 0) {
      box.appendChild(el("p", { "class": "empty" }, "No audit event since the server started."));
    } else {
      var events = st.audit.events;
      var shown = auditAll ? events : events.slice(0, AUDIT_SHOWN);
      var t = el("table", { "class": "stack" },
        el("caption", null, "The last " + shown.length + " of " + events.length + " events kept (newest first; the server keeps up to " + st.audit.capacity + ")"),
        el("thead", null, el("tr", null, el("th", { scope: "col" }, "When"), el("th", { scope: "col" }, "Event"),
          el("th", { scope: "col" }, "Outcome"), el("th", { scope: "col" }, "Subject"), el("th", { scope: "col" }, "By"))));
      var tb = el("tbody");
      shown.forEach(function (e) { tb.appendChild(auditRow(e, st.generated_at)); });
      t.appendChild(tb);
      box.appendChild(el("div", { "class": "table-wrap" }, t));
      if (events.length > AUDIT_SHOWN) {
        var more = el("button", { type: "button", id: "audit-more", "class": "secondary", "aria-expanded": auditAll ? "true" : "false" },
          auditAll ? "Show the last " + AUDIT_SHOWN + " only" : "Show all " + events.length);
        more.addEventListener("click", function () {
          auditAll = !auditAll;
          renderAudit(st);
          $("audit-more").focus();
        });
        box.appendChild(el("p", null, more));
      }
    }
    $("audit").replaceWith(box);
  }

  // announce puts what changed since the previous snapshot in the live region.
  function announce(st) {
    if (!prev) { prev = st; return; }
    var msgs = [];
    var before = {}, after = {};
    (prev.namespaces || []).forEach(function (ns) { ns.nodes.forEach(function (n) { before[ns.name + "/" + n.key] = n.status; }); });
    (st.namespaces || []).forEach(function (ns) { ns.nodes.forEach(function (n) { after[ns.name + "/" + n.key] = n.status; }); });
    Object.keys(after).forEach(function (k) {
      if (!(k in before)) { msgs.push("Node " + k + " joined."); } else if (before[k] !== after[k]) { msgs.push("Node " + k + " is " + after[k] + "."); }
    });
    Object.keys(before).forEach(function (k) { if (!(k in after)) { msgs.push("Node " + k + " left."); } });
    var ph = {};
    (prev.providers || []).forEach(function (p) { ph[p.name] = p.health; });
    (st.providers || []).forEach(function (p) { if (ph[p.name] && ph[p.name] !== p.health) { msgs.push("Provider " + p.name + " is " + p.health + "."); } });
    if (msgs.length > 4) { msgs = msgs.slice(0, 3).concat([(msgs.length - 3) + " more changes."]); }
    if (msgs.length) { $("live").textContent = msgs.join(" "); }
    prev = st;
  }

  function render(st) {
    // Re-rendering replaces the tables: keep the keyboard focus where it was.
    var focused = document.activeElement && document.activeElement.id;
    renderServer(st);
    renderNamespaces(st);
    renderProviders(st);
    renderAudit(st);
    announce(st);
    $("updated").textContent = "last update " + new Date(Date.parse(st.generated_at)).toLocaleTimeString() + ".";
    document.body.setAttribute("data-generated-at", st.generated_at);
    if (focused && document.activeElement === document.body && $(focused)) { $(focused).focus(); }
  }

  function setConn(text) {
    var c = $("conn");
    c.textContent = text;
    c.className = "badge " + text;
  }

  function poll() {
    fetch("api/v1/status", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        if (r.ok) { render(r.body); } else { showError(r.body.error || "status unavailable"); }
      })
      .catch(function (e) { showError("status: " + e.message); })
      .finally(function () { pollTimer = setTimeout(poll, POLL_MS); });
  }

  function showError(msg) {
    var errs = $("errors");
    errs.textContent = msg;
    errs.hidden = false;
  }

  function connect() {
    if (!window.EventSource) { setConn("polling"); poll(); return; }
    source = new EventSource("api/v1/events");
    source.addEventListener("open", function () { setConn("live"); });
    source.addEventListener("status", function (ev) {
      setConn("live");
      try { render(JSON.parse(ev.data)); } catch (e) { showError("bad status event: " + e.message); }
    });
    source.addEventListener("failure", function (ev) {
      try { showError(JSON.parse(ev.data).error); } catch (e) { showError("status unavailable"); }
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (too many streams, or the server went away): poll instead.
        source = null;
        setConn("polling");
        if (!pollTimer) { poll(); }
      } else {
        setConn("connecting");
      }
    });
  }

  function lookup(ev) {
    ev.preventDefault();
    var form = $("lookup");
    var out = $("lookup-result");
    var params = new URLSearchParams(new FormData(form));
    out.textContent = "Looking up…";
    fetch("api/v1/lookup?" + params.toString(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (b) { return { status: r.status, body: b }; }); })
      .then(function (r) {
        var b = r.body;
        var box;
        if (r.status === 200 && b.found) {
          box = el("div", { "class": "result found", "data-holder": b.node },
            el("code", null, b.reference), " is held by node ", el("strong", { "class": "holder" }, b.node),
            b.node_url ? el("span", null, " at ", el("code", null, b.node_url)) : null,
            ", epoch " + b.epoch + ", lease expires ",
            prev ? timeEl(b.lease_expires_at, prev.generated_at) : el("time", { datetime: b.lease_expires_at }, b.lease_expires_at), ".");
        } else if (r.status === 200) {
          box = el("div", { "class": "result missing" }, el("code", null, b.reference), ": not placed. ", b.reason || "");
        } else {
          box = el("div", { "class": "result error", role: "alert" }, b.error || ("lookup failed (HTTP " + r.status + ")"));
        }
        out.replaceChildren(box);
      })
      .catch(function (e) { out.replaceChildren(el("div", { "class": "result error", role: "alert" }, "lookup: " + e.message)); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("lookup").addEventListener("submit", lookup);
    connect();
  });
})();
