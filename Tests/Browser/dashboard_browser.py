#!/usr/bin/env python3
"""Drives /dashboard in headless Chromium over WebDriver (chromedriver's HTTP API, no Selenium).

    dashboard_browser.py FRONT_URL QUEUED_JOB RETRY_JOB DELETE_JOB SCREENSHOT.png

Run by Tests/IntegrationTests/DashboardBrowserTests.swift against a live stack that has a
worker on `default` only. The page must show, without being reloaded:
  1. QUEUED_JOB, enqueued on the queue `later` after the page was loaded;
  2. RETRY_JOB (a failed test_mq job) finished, after its retry button was clicked;
  3. DELETE_JOB gone from the failed jobs, after its delete button was clicked.
It saves a screenshot after step 1. Prints one line per step; exits non-zero with the reason when a step fails.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

front, queued_job, retry_job, delete_job, screenshot = sys.argv[1:6]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


port = free_port()
driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
webdriver = f"http://127.0.0.1:{port}"


def command(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(webdriver + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["value"]


def wait_for(description, check, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            print(f"ok: {description}")
            return
        time.sleep(0.25)
    raise SystemExit(f"FAILED: {description} within {seconds} s; the page shows:\n{text('body')}")


for _ in range(100):
    try:
        command("GET", "/status")
        break
    except OSError:
        time.sleep(0.1)

profile = tempfile.mkdtemp(prefix="swiftrpc-chromium-")
session = command("POST", "/session", {"capabilities": {"alwaysMatch": {
    "browserName": "chrome",
    "goog:chromeOptions": {
        "binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", f"--user-data-dir={profile}"],
    },
}}})["sessionId"]
s = f"/session/{session}"


def element(css):
    return command("POST", f"{s}/element", {"using": "css selector", "value": css})["element-6066-11e4-a52e-4f735466cecf"]


def text(css):
    try:
        return command("GET", f"{s}/element/{element(css)}/text")
    except Exception:  # not on the page (yet), or replaced by a refresh between the two calls
        return ""


def click_action(action):
    button = element('button[data-action="' + action + '"]')
    command("POST", f"{s}/element/{button}/click", {})


def row_of(table, job):
    """The text of the row of `job` in the table with id `table`, or ''."""
    for line in text(f"#{table}").splitlines():
        if line.startswith(job):
            return line
    return ""


try:
    command("POST", f"{s}/url", {"url": front + "/dashboard"})
    wait_for("the dashboard shows the queues and workers", lambda: "default" in text("#queues") and "worker" in text("#workers"))
    command("POST", f"{s}/execute/sync", {"script": "window.notReloaded = true; return true;", "args": []})

    # 1. A job queued now appears by itself.
    body = json.dumps({"args": [1, 1], "options": {"queue": "later", "job_id": queued_job}}).encode()
    urllib.request.urlopen(urllib.request.Request(front + "/test_mq", data=body, method="POST"), timeout=10).read()
    wait_for(f"{queued_job} appears queued without a reload", lambda: "queued" in row_of("recent-later", queued_job))
    with open(screenshot, "wb") as out:  # the README's picture: a queued job, failed jobs and their buttons
        out.write(base64.b64decode(command("GET", f"{s}/screenshot")))
    print(f"ok: screenshot in {screenshot}")

    # 2. Retry a failed job from the page; it runs and finishes.
    wait_for(f"{retry_job} is listed as failed", lambda: row_of("failed", retry_job) != "")
    click_action(f"/api/failed/{retry_job}/retry")
    wait_for(f"{retry_job} finishes after retry", lambda: "finished" in row_of("recent-default", retry_job))
    wait_for(f"{retry_job} leaves the failed jobs", lambda: row_of("failed", retry_job) == "")

    # 3. Delete a failed job from the page.
    click_action(f"/api/failed/{delete_job}/delete")
    wait_for(f"{delete_job} leaves the failed jobs", lambda: row_of("failed", delete_job) == "")
    wait_for("the page says what it did", lambda: f"job {delete_job} deleted" in text("#notice"))

    if command("POST", f"{s}/execute/sync", {"script": "return window.notReloaded === true;", "args": []}) is not True:
        raise SystemExit("FAILED: the page was reloaded")
    print("ok: the page was never reloaded")
finally:
    try:
        command("DELETE", s)
    finally:
        driver.terminate()
        driver.wait()
