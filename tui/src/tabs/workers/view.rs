//! The two tables of the screen: the workers (what each reported, its state, its job, its pace,
//! its last heartbeat) and, below, the stem queue.

use std::cmp::Ordering;

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use studiovault_api::admin::{StemJobView, WorkerView};

use crate::format;
use crate::theme::Theme;
use crate::widgets::{Cursor, ListBox};

/// Characters of a job id shown: enough to tell the jobs of a queue apart.
const SHORT_ID: usize = 8;

pub fn short_id(id: &str) -> String {
    id.chars().take(SHORT_ID).collect()
}

/// The order of the queue: what runs, then what waits (oldest first), then what failed.
pub fn queue_order(a: &StemJobView, b: &StemJobView) -> Ordering {
    let rank = |j: &StemJobView| match j.state.as_str() {
        "running" => 0,
        "queued" => 1,
        _ => 2,
    };
    rank(a)
        .cmp(&rank(b))
        .then(a.created_at.cmp(&b.created_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// The widths a table in a bordered box `area` gives its columns, as ratatui's `Table` lays
/// them out (after `selection` columns for the cursor's symbol), so long text can be clipped
/// with `…` rather than cut off.
fn column_widths(constraints: &[Constraint], area: Rect, selection: u16) -> Vec<usize> {
    let width = area.width.saturating_sub(2 + selection);
    Layout::horizontal(constraints.iter().copied())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, width, 1))
        .iter()
        .map(|column| usize::from(column.width))
        .collect()
}

/// Clips `text` to column `index` of `widths`.
fn fit(text: &str, widths: &[usize], index: usize) -> String {
    format::clip(text, widths.get(index).copied().unwrap_or(usize::MAX))
}

fn state_style(state: &str, theme: Theme) -> ratatui::style::Style {
    match state {
        "active" | "running" => theme.ok(),
        "draining" => theme.warn(),
        "revoked" | "failed" => theme.error(),
        _ => theme.text(),
    }
}

/// `RTX 4090 · 24 GiB`: the GPU without its maker's prefixes, and its memory. `none` for a
/// worker that reported no GPU, `—` for one that has not called yet.
fn gpu(worker: &WorkerView) -> String {
    let Some(name) = &worker.gpu else {
        return if worker.host.is_some() { "none" } else { "—" }.to_owned();
    };
    let short = name
        .trim_start_matches("NVIDIA ")
        .trim_start_matches("GeForce ");
    match worker.vram_mb {
        Some(mb) if mb >= 1024 => format!("{short} · {} GiB", (mb + 512) / 1024),
        Some(mb) => format!("{short} · {mb} MiB"),
        None => short.to_owned(),
    }
}

/// The job column: a small gauge and the percentage, or why there is none.
fn job(worker: &WorkerView, theme: Theme) -> Cell<'static> {
    match &worker.current_job {
        Some(job) => Cell::from(format!(
            "{} {:>3}%",
            format::gauge(job.progress, 5),
            format::percent(job.progress)
        )),
        None if worker.state == "revoked" => Cell::from(Span::styled("—", theme.dim())),
        None => Cell::from(Span::styled("idle", theme.dim())),
    }
}

pub fn draw_workers(
    frame: &mut Frame,
    area: Rect,
    workers: &[&WorkerView],
    cursor: &Cursor,
    now_ms: i64,
    theme: Theme,
) {
    const NAME: usize = 0;
    const HOST: usize = 1;
    const BACKEND: usize = 2;
    const GPU: usize = 3;
    let constraints = [
        Constraint::Fill(3),
        Constraint::Fill(2),
        Constraint::Length(7),
        Constraint::Fill(3),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(10),
    ];
    // The cursor's `▶ ` takes two columns.
    let widths = column_widths(&constraints, area, 2);
    let list = ListBox::new(&format!("Workers ({})", workers.len()), theme);
    let rows = workers
        .iter()
        .map(|w| {
            Row::new([
                Cell::from(fit(&w.name, &widths, NAME)),
                Cell::from(fit(w.host.as_deref().unwrap_or("—"), &widths, HOST)),
                Cell::from(fit(w.backend.as_deref().unwrap_or("—"), &widths, BACKEND)),
                Cell::from(fit(&gpu(w), &widths, GPU)),
                Cell::from(Span::styled(w.state.clone(), state_style(&w.state, theme))),
                job(w, theme),
                Cell::from(Line::from(w.jobs_last_hour.to_string()).right_aligned()),
                Cell::from(
                    w.last_seen
                        .map_or_else(|| "never".to_owned(), |t| format::ago(t, now_ms)),
                ),
            ])
        })
        .collect();
    list.draw_rows(
        frame,
        area,
        Row::new([
            "Name",
            "Host",
            "Backend",
            "GPU",
            "State",
            "Job",
            "Jobs/h",
            "Last seen",
        ]),
        constraints,
        rows,
        cursor,
    );
}

/// `3: 1 running, 1 queued, 1 failed`.
fn queue_summary(queue: &[StemJobView]) -> String {
    let count = |state: &str| queue.iter().filter(|j| j.state == state).count();
    let parts: Vec<String> = [
        ("running", count("running")),
        ("queued", count("queued")),
        ("failed", count("failed")),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(state, n)| format!("{n} {state}"))
    .collect();
    if parts.is_empty() {
        queue.len().to_string()
    } else {
        format!("{}: {}", queue.len(), parts.join(", "))
    }
}

/// The queue, or why it shows nothing: `None` until the first load answers.
pub fn draw_queue(
    frame: &mut Frame,
    area: Rect,
    queue: Option<&[StemJobView]>,
    now_ms: i64,
    theme: Theme,
) {
    let Some(queue) = queue else {
        ListBox::new("Stem queue", theme).draw_placeholder(frame, area, "");
        return;
    };
    let list = ListBox::new(&format!("Stem queue ({})", queue_summary(queue)), theme);
    if queue.is_empty() {
        list.draw_placeholder(frame, area, "No stem jobs waiting, running or failed.");
        return;
    }
    const ABOUT: usize = 5;
    let constraints = [
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(15),
        Constraint::Length(5),
        Constraint::Length(10),
        Constraint::Fill(1),
    ];
    let widths = column_widths(&constraints, area, 0);
    let rows = queue
        .iter()
        .map(|j| {
            let progress = if j.state == "running" {
                Cell::from(format!(
                    "{} {:>3}%",
                    format::gauge(j.progress, 10),
                    format::percent(j.progress)
                ))
            } else {
                Cell::from(Span::styled("—", theme.dim()))
            };
            let about = match (&j.reason, &j.worker) {
                (Some(reason), _) => Span::styled(fit(reason, &widths, ABOUT), theme.error()),
                (None, Some(worker)) => Span::raw(fit(worker, &widths, ABOUT)),
                (None, None) => Span::styled("waiting for a worker", theme.dim()),
            };
            Row::new([
                Cell::from(short_id(&j.id)),
                Cell::from(Span::styled(j.state.clone(), state_style(&j.state, theme))),
                progress,
                Cell::from(Line::from(j.attempts.to_string()).right_aligned()),
                Cell::from(format::ago(j.created_at, now_ms)),
                Cell::from(about),
            ])
        })
        .collect();
    list.draw_table(
        frame,
        area,
        Row::new([
            "Job",
            "State",
            "Progress",
            "Tries",
            "Queued",
            "Worker or reason",
        ]),
        constraints,
        rows,
    );
}
