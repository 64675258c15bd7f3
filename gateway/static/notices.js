// medgate patient portal: notices at the top of the page (break-glass accesses and accesses the
// patient asked to hear about), each with a "mark as read" button. No clinical data in them.
"use strict";

async function patientFetch(url, token, options = {}) {
  // The session's current token (signin.js renews it); `token` until there is one.
  const headers = { Authorization: `Bearer ${session.token || token}`, ...(options.headers || {}) };
  if (options.method && options.method !== "GET") headers["X-Medgate-CSRF"] = "1";
  return fetch(url, { ...options, headers, credentials: "omit", cache: "no-store" });
}

function noticeText(n) {
  const when = new Date(n.at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  const how = n.kind === "break-glass" ? "in an emergency (break-glass)" : "and you asked to be told";
  return `${n.requester.name} accessed your records on ${when} ${how}, for ${n.purpose_text}.`;
}

async function loadNotices(token) {
  const resp = await patientFetch("/patient/notifications", token);
  const section = document.getElementById("notices");
  if (!resp.ok) { section.hidden = true; return 0; }
  const unread = (await resp.json()).notifications.filter((n) => !n.read);
  const list = document.getElementById("notice-list");
  list.replaceChildren();
  for (const n of unread) {
    const li = document.createElement("li");
    li.dataset.id = n.id;
    if (n.kind === "break-glass") li.className = "flag";
    const text = document.createElement("span");
    text.textContent = noticeText(n) + " ";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Mark as read";
    button.setAttribute("aria-label", `Mark as read: ${noticeText(n)}`);
    button.addEventListener("click", async () => {
      const done = await patientFetch(`/patient/notifications/${n.id}/read`, token, { method: "POST" });
      if (done.ok) li.remove();
      section.hidden = list.children.length === 0;
    });
    li.append(text, button);
    list.appendChild(li);
  }
  section.hidden = unread.length === 0;
  return unread.length;
}
