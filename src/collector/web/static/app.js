// collector's dashboard script: live progress from the server's event stream
// (/api/events, Server-Sent Events), or by polling the JSON API where EventSource is
// missing, refused (503: too many streams) or keeps failing.
// Builds rows with DOM methods and textContent only: titles come from remote sites.
"use strict";

(function () {
  const POLL_MS = 1000;
  const BAR_X = 96;
  const MAX_STREAM_ERRORS = 3; // failed connection attempts in a row: give up the stream

  // Subscribe to the stream at `url` ({event name: handler}); call `fallback` once if it
  // cannot be used, and `onChange(true|false)` as the connection opens and fails.
  // EventSource reconnects by itself (the server sends `retry:`), sending Last-Event-ID:
  // the server then repeats only what changed since. It closes for good on an answer
  // that is not a stream (401, 503: too many streams); we also give up after
  // MAX_STREAM_ERRORS failed attempts in a row. `root.dataset.transport` says which is used.
  function stream(root, url, handlers, fallback, onChange) {
    if (!url || typeof window.EventSource !== "function") {
      root.dataset.transport = "polling";
      fallback();
      return;
    }
    const source = new EventSource(url);
    root.dataset.transport = "sse";
    let errors = 0;
    let gaveUp = false;
    source.addEventListener("open", () => {
      errors = 0;
      if (onChange) onChange(true);
    });
    for (const [name, handler] of Object.entries(handlers)) {
      source.addEventListener(name, (event) => {
        errors = 0;
        handler(JSON.parse(event.data));
      });
    }
    source.addEventListener("error", () => {
      if (onChange) onChange(false);
      errors += 1;
      if (gaveUp || (source.readyState !== EventSource.CLOSED && errors < MAX_STREAM_ERRORS)) return;
      gaveUp = true;
      source.close();
      root.dataset.transport = "polling";
      fallback();
    });
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.status === 401) window.location.reload(); // signed out: the server asks again
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    for (const child of children || []) node.append(child);
    return node;
  }

  function when(iso) {
    return iso ? iso.slice(0, 16).replace("T", " ") : "";
  }

  function badge(status) {
    return el("span", { class: "badge badge-" + status }, [status]);
  }

  function progressCell(progress) {
    const bar = el("progress", { max: "100", value: String(progress), "aria-label": "progress" }, [progress + "%"]);
    return el("span", { class: "progress-cell" }, [bar, el("span", { class: "percent" }, [progress + "%"])]);
  }

  function jobRow(job, jobUrl, thumbnail) {
    const link = el("a", { href: jobUrl.replace("JOB_ID", encodeURIComponent(job.id)) }, [job.title || job.url]);
    const sub = el("span", { class: "sub" }, [job.current_operation || job.error_message || job.url]);
    const src = thumbnail ? thumbnail(job) : null;
    const image = src ? [el("img", { class: "thumb", src, alt: "", loading: "lazy", width: "48", height: "27" })] : [];
    return el("tr", { "data-job-id": job.id }, [
      el("td", { class: "title" }, [...image, link, sub]),
      el("td", {}, [job.platform]),
      el("td", { class: "status" }, [badge(job.status)]),
      el("td", {}, [progressCell(job.progress)]),
      el("td", { class: "when" }, [when(job.created_at)]),
    ]);
  }

  function renderJobs(tbody, jobs, jobUrl, thumbnail) {
    if (!jobs.length) {
      tbody.replaceChildren(el("tr", { class: "empty" }, [el("td", { colspan: "5" }, [tbody.dataset.empty])]));
      return;
    }
    tbody.replaceChildren(...jobs.map((job) => jobRow(job, jobUrl, thumbnail)));
  }

  // The dashboard's thumbnails by job id: those its page was served with, and those the
  // stream's recent jobs carry (thumbnail_id); a list read by polling keeps what it knew.
  function thumbnails(root) {
    const known = new Map();
    for (const img of root.querySelectorAll("tr[data-job-id] img.thumb")) {
      known.set(img.closest("tr").dataset.jobId, img.getAttribute("src"));
    }
    return (job) => {
      if (job.thumbnail_id) {
        known.set(job.id, root.dataset.fileUrl.replace("FILE_ID", encodeURIComponent(job.thumbnail_id)));
      }
      return known.get(job.id) || null;
    };
  }

  function renderStats(stats, span) {
    const counts = Object.values(stats);
    const largest = Math.max(0, ...counts);
    for (const group of document.querySelectorAll("svg.chart .bar")) {
      const count = stats[group.dataset.status] || 0;
      const width = count > 0 && largest > 0 ? Math.max(2, Math.round((count / largest) * span)) : 0;
      group.querySelector("rect").setAttribute("width", String(width));
      const label = group.querySelector(".count");
      label.setAttribute("x", String(BAR_X + 8 + width));
      label.textContent = count.toLocaleString("en-US");
    }
    const total = document.getElementById("total");
    if (total) total.textContent = counts.reduce((a, b) => a + b, 0).toLocaleString("en-US") + " in all";
  }

  function dashboard(root) {
    const live = document.getElementById("live");
    const active = document.getElementById("active-jobs");
    const recent = document.getElementById("recent-jobs");
    const jobUrl = root.dataset.jobUrl;
    const thumbnail = thumbnails(root);
    const span = Number(root.dataset.barSpan);
    async function poll() {
      try {
        const [stats, activePage, recentPage] = await Promise.all([
          getJSON(root.dataset.statsUrl), getJSON(root.dataset.activeUrl), getJSON(root.dataset.recentUrl),
        ]);
        renderStats(stats, span);
        renderJobs(active, activePage.items, jobUrl, thumbnail);
        renderJobs(recent, recentPage.items, jobUrl, thumbnail);
        live.classList.add("on");
      } catch (error) {
        live.classList.remove("on");
      }
      setTimeout(poll, POLL_MS);
    }
    // From the stream: the recent list shows a job's progress from the newest active list.
    let recentItems = null;
    let activeItems = [];
    function showRecent() {
      if (recentItems === null) return;
      const newest = new Map(activeItems.map((job) => [job.id, job]));
      renderJobs(recent, recentItems.map((job) => newest.get(job.id) || job), jobUrl, thumbnail);
    }
    stream(root, root.dataset.eventsUrl, {
      active: (page) => {
        activeItems = page.items;
        renderJobs(active, activeItems, jobUrl, thumbnail);
        showRecent();
        live.classList.add("on");
      },
      stats: (stats) => renderStats(stats, span),
      recent: (page) => {
        recentItems = page.items;
        showRecent();
      },
    }, poll, (on) => live.classList.toggle("on", on));
  }

  function jobPage(root) {
    if (root.dataset.active !== "yes") return;
    // Show the job's state; false once it finished (the page is loaded again to show how).
    function show(job) {
      if (!job || !["pending", "running", "cancelling"].includes(job.status)) {
        window.location.reload();
        return false;
      }
      root.querySelector("dd.status").replaceChildren(badge(job.status));
      root.querySelector("progress").value = job.progress;
      root.querySelector(".percent").textContent = job.progress + "%";
      root.querySelector(".operation").textContent = job.current_operation || "";
      return true;
    }
    async function poll() {
      try {
        if (!show(await getJSON(root.dataset.jobApi))) return;
      } catch (error) {
        // keep polling: the server may be restarting
      }
      setTimeout(poll, POLL_MS);
    }
    stream(root, root.dataset.eventsUrl, { job: show }, () => setTimeout(poll, POLL_MS));
  }

  function autosubmit() {
    for (const form of document.querySelectorAll("form[data-autosubmit]")) {
      for (const select of form.querySelectorAll("select")) {
        select.addEventListener("change", () => form.submit());
      }
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const dash = document.getElementById("dashboard");
    if (dash) dashboard(dash);
    const job = document.getElementById("job");
    if (job) jobPage(job);
    autosubmit();
  });
})();
