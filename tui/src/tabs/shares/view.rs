//! The three lists of the screen: the owners with their share counts, the selected owner's
//! shares and, below, the selected share's recipients with what each did. A table too wide for
//! its box leaves out its least needed columns first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row};
use studiovault_api::admin::{AdminRecipient, AdminShare, OwnerShares};

use crate::format;
use crate::theme::Theme;
use crate::widgets::{Cursor, ListBox};

/// Columns the cursor's `▶ ` takes, and the box's borders.
const FRAME_WIDTH: u16 = 4;

/// A table column: its header, its width, and whether it gives way when space runs short.
#[derive(Debug, Clone, Copy)]
struct Column {
    header: &'static str,
    width: Constraint,
    /// Columns it needs to read well: its length, or a fill column's least.
    least: u16,
    /// Columns with a rank are left out, the lowest first, while the table does not fit.
    drop_rank: Option<u8>,
}

const fn fixed(header: &'static str, width: u16, drop_rank: Option<u8>) -> Column {
    Column {
        header,
        width: Constraint::Length(width),
        least: width,
        drop_rank,
    }
}

const fn fill(header: &'static str, weight: u16, least: u16, drop_rank: Option<u8>) -> Column {
    Column {
        header,
        width: Constraint::Fill(weight),
        least,
        drop_rank,
    }
}

/// The indexes of the columns that fit `width`, in order.
fn fitting(columns: &[Column], width: u16) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..columns.len()).collect();
    let needed = |kept: &[usize]| {
        let cells: usize = kept.iter().map(|&i| usize::from(columns[i].least)).sum();
        cells + kept.len().saturating_sub(1)
    };
    let mut droppable: Vec<(u8, usize)> = columns
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.drop_rank.map(|rank| (rank, i)))
        .collect();
    droppable.sort_unstable();
    for (_, column) in droppable {
        if needed(&kept) <= usize::from(width) {
            break;
        }
        kept.retain(|&i| i != column);
    }
    kept
}

/// One cell: its text, clipped with `…` to its column when drawn.
#[derive(Debug)]
struct Text {
    text: String,
    style: Style,
    right: bool,
}

fn plain(text: impl Into<String>) -> Text {
    styled(text, Style::default())
}

fn styled(text: impl Into<String>, style: Style) -> Text {
    Text {
        text: text.into(),
        style,
        right: false,
    }
}

fn number(n: u32) -> Text {
    Text {
        right: true,
        ..plain(n.to_string())
    }
}

/// A table of `rows` (one [`Text`] per column) with the columns that fit `area`, the cursor's
/// row selected.
fn draw_table(
    frame: &mut Frame,
    area: Rect,
    list: ListBox,
    columns: &[Column],
    rows: Vec<Vec<Text>>,
    cursor: &Cursor,
) {
    let inner = area.width.saturating_sub(FRAME_WIDTH);
    let kept = fitting(columns, inner);
    let constraints: Vec<Constraint> = kept.iter().map(|&i| columns[i].width).collect();
    // The widths ratatui's `Table` gives the columns, to clip text with `…` rather than cut it.
    let widths: Vec<usize> = Layout::horizontal(constraints.iter().copied())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, inner, 1))
        .iter()
        .map(|column| usize::from(column.width))
        .collect();
    let header = Row::new(kept.iter().map(|&i| columns[i].header));
    let rows = rows
        .into_iter()
        .map(|row| {
            let mut cells: Vec<Option<Text>> = row.into_iter().map(Some).collect();
            Row::new(kept.iter().zip(&widths).map(|(&i, &width)| {
                let Some(Text { text, style, right }) = cells.get_mut(i).and_then(Option::take)
                else {
                    return Cell::default();
                };
                let line = Line::styled(format::clip(&text, width), style);
                Cell::from(if right { line.right_aligned() } else { line })
            }))
        })
        .collect();
    list.draw_rows(frame, area, header, constraints, rows, cursor);
}

/// Columns the owners' box wants: the longest address and its count, within reason.
pub fn owners_width(owners: &[OwnerShares], area: Rect) -> u16 {
    let longest = owners
        .iter()
        .map(|o| o.email.chars().count())
        .max()
        .unwrap_or(0);
    let wanted = u16::try_from(longest)
        .unwrap_or(u16::MAX)
        .saturating_add(FRAME_WIDTH + 1 + 6);
    wanted.clamp(24, (area.width / 5 * 2).max(24))
}

pub fn draw_owners(
    frame: &mut Frame,
    area: Rect,
    owners: &[OwnerShares],
    cursor: &Cursor,
    focused: bool,
    theme: Theme,
) {
    let list = ListBox::new(&format!("Owners ({})", owners.len()), theme).focused(focused);
    const COLUMNS: [Column; 2] = [fill("Owner", 1, 10, None), fixed("Shares", 6, None)];
    let rows = owners
        .iter()
        .map(|o| {
            let count = u32::try_from(o.shares.len()).unwrap_or(u32::MAX);
            vec![plain(o.email.clone()), number(count)]
        })
        .collect();
    draw_table(frame, area, list, &COLUMNS, rows, cursor);
}

fn status_style(status: &str, theme: Theme) -> Style {
    match status {
        "active" => theme.ok(),
        "revoked" => theme.error(),
        _ => theme.dim(),
    }
}

/// `2025-07-01`: a share's expiry, to the day.
fn day(ms: i64) -> String {
    let minute = format::minute(ms);
    minute.get(..10).unwrap_or(&minute).to_owned()
}

pub fn draw_shares(
    frame: &mut Frame,
    area: Rect,
    owner: Option<&OwnerShares>,
    cursor: &Cursor,
    focused: bool,
    theme: Theme,
) {
    let Some(owner) = owner else {
        ListBox::new("Shares", theme)
            .focused(focused)
            .draw_placeholder(frame, area, "");
        return;
    };
    let title = format!("Shares of {} ({})", owner.email, owner.shares.len());
    let list = ListBox::new(&title, theme).focused(focused);
    if owner.shares.is_empty() {
        list.draw_placeholder(frame, area, "This owner has no shares.");
        return;
    }
    const COLUMNS: [Column; 6] = [
        fill("Title", 1, 10, None),
        fixed("Status", 7, None),
        fixed("Recipients", 10, None),
        fixed("Tracks", 6, Some(1)),
        fixed("Comments", 8, Some(0)),
        fixed("Expires UTC", 11, Some(2)),
    ];
    let rows = owner
        .shares
        .iter()
        .map(|s| {
            let recipients = u32::try_from(s.recipients.len()).unwrap_or(u32::MAX);
            vec![
                plain(s.title.clone()),
                styled(s.status.clone(), status_style(&s.status, theme)),
                number(recipients),
                number(s.tracks),
                number(s.comments),
                plain(day(s.expires_at)),
            ]
        })
        .collect();
    draw_table(frame, area, list, &COLUMNS, rows, cursor);
}

/// `Recipients of Demo EP (2) · watermarked · downloads allowed`: what the share's recipients
/// get, which says what a trace can find.
fn recipients_title(share: &AdminShare) -> String {
    let watermark = if share.watermark {
        "watermarked"
    } else {
        "not watermarked"
    };
    let download = if share.allow_download {
        "downloads allowed"
    } else {
        "stream only"
    };
    format!(
        "Recipients of {} ({}) · {watermark} · {download}",
        share.title,
        share.recipients.len()
    )
}

fn recipient_row(r: &AdminRecipient, theme: Theme) -> Vec<Text> {
    let when = |at: Option<i64>| match at {
        Some(at) => plain(format::minute(at)),
        None => styled("never", theme.dim()),
    };
    vec![
        plain(r.name.clone()),
        match &r.email {
            Some(email) => plain(email.clone()),
            None => styled("—", theme.dim()),
        },
        number(r.plays),
        number(r.downloads),
        number(r.copies),
        Text {
            right: true,
            ..plain(format::play_time(r.listened_secs))
        },
        when(r.first_opened),
        when(r.last_activity),
        if r.revoked {
            styled("revoked", theme.error())
        } else {
            styled("—", theme.dim())
        },
        plain(r.payload.clone()),
    ]
}

pub fn draw_recipients(
    frame: &mut Frame,
    area: Rect,
    share: Option<&AdminShare>,
    cursor: &Cursor,
    focused: bool,
    theme: Theme,
) {
    let Some(share) = share else {
        ListBox::new("Recipients", theme)
            .focused(focused)
            .draw_placeholder(frame, area, "");
        return;
    };
    let list = ListBox::new(&recipients_title(share), theme).focused(focused);
    if share.recipients.is_empty() {
        list.draw_placeholder(frame, area, "Nobody has been sent this share.");
        return;
    }
    // The payload and the revocation matter most to a trace; the e-mail and the times give
    // way first on a narrow terminal.
    const COLUMNS: [Column; 10] = [
        fill("Name", 2, 10, None),
        fill("E-mail", 3, 12, Some(1)),
        fixed("Plays", 5, None),
        fixed("Downl.", 6, None),
        fixed("Copies", 6, None),
        fixed("Listened", 8, None),
        fixed("First opened UTC", 16, Some(0)),
        fixed("Last active UTC", 16, Some(2)),
        fixed("Revoked", 7, None),
        fixed("Payload", 16, None),
    ];
    let rows = share
        .recipients
        .iter()
        .map(|r| recipient_row(r, theme))
        .collect();
    draw_table(frame, area, list, &COLUMNS, rows, cursor);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_narrow_table_drops_its_lowest_ranked_columns_first() {
        let columns = [
            fill("Name", 1, 10, None),
            fixed("Mail", 12, Some(1)),
            fixed("When", 16, Some(0)),
            fixed("Payload", 16, None),
        ];
        // 10 + 12 + 16 + 16 and three gaps.
        assert_eq!(fitting(&columns, 57), [0, 1, 2, 3]);
        assert_eq!(fitting(&columns, 56), [0, 1, 3]);
        assert_eq!(fitting(&columns, 40), [0, 1, 3]);
        assert_eq!(fitting(&columns, 39), [0, 3]);
        // Columns without a rank stay, even when they do not fit.
        assert_eq!(fitting(&columns, 5), [0, 3]);
    }
}
