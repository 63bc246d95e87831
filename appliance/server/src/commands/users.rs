//! `studiovault user …` and `studiovault sessions …`: accounts and their sessions.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use studiovault_api::AccountStatus;
use studiovault_api::admin::{
    AdminSessionView, CreateUser, ResetPassword, Revoked, UpdateUser, UserCreated, UserView,
};
use studiovault_api::client::{AdminClient, segment};

use super::print_json;
use crate::cli::{SessionsCommand, UserArg, UserCommand, UserSessionsCommand};
use crate::human::{size, when};

/// `500GiB`, `2 TiB`, `1000000` (bytes); `plan` clears an override.
fn parse_quota(raw: &str) -> anyhow::Result<Option<u64>> {
    let s = raw.trim();
    if s.eq_ignore_ascii_case("plan") {
        return Ok(None);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .with_context(|| format!("`{raw}` is not a size such as 500GiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "kib" | "k" => 10,
        "mib" | "m" => 20,
        "gib" | "g" => 30,
        "tib" | "t" => 40,
        other => bail!("unknown size unit `{other}` (use KiB, MiB, GiB or TiB)"),
    };
    n.checked_mul(1 << shift)
        .map(Some)
        .context("that quota does not fit in 64 bits")
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        bail!("standard input held no password");
    }
    Ok(pw)
}

fn status_text(s: &AccountStatus) -> String {
    match s {
        AccountStatus::Active => "active".into(),
        AccountStatus::Suspended { since } => format!("suspended since {}", when(*since)),
        AccountStatus::PendingDeletion { purge_after, .. } => {
            format!("deletion scheduled, purge after {}", when(*purge_after))
        }
    }
}

fn print_user(u: &UserView) {
    println!("{} <{}>", u.id, u.email);
    println!(
        "  plan       {}{}",
        u.plan,
        if u.quota_override {
            " (quota overridden)"
        } else {
            ""
        }
    );
    println!(
        "  storage    {} of {} in {} tracks",
        size(u.used_bytes),
        size(u.quota_bytes),
        u.tracks
    );
    println!("  status     {}", status_text(&u.status));
    println!("  2FA        {}", if u.totp_enabled { "on" } else { "off" });
    println!("  sessions   {}", u.sessions);
    println!("  created    {}", when(u.created_at));
}

fn print_sessions(sessions: &[AdminSessionView]) {
    if sessions.is_empty() {
        println!("no sessions");
        return;
    }
    println!(
        "{:<32}  {:<28}  {:<25}  {:<25}  CLIENT",
        "SESSION", "USER", "SIGNED IN", "LAST SEEN"
    );
    for s in sessions {
        println!(
            "{:<32}  {:<28}  {:<25}  {:<25}  {}",
            s.id,
            s.email,
            when(s.created_at),
            when(s.last_seen_at),
            s.client.as_deref().unwrap_or("-")
        );
    }
}

fn print_created(r: &UserCreated, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(r);
    }
    print_user(&r.user);
    if let Some(pw) = &r.one_time_password {
        println!("\nOne-time password (shown once, pass it on securely): {pw}");
    }
    Ok(())
}

pub async fn user(client: &AdminClient, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let path = |who: &str, rest: &str| format!("/v1/users/{}{rest}", segment(who));
    let show = |u: UserView, json: bool| -> anyhow::Result<ExitCode> {
        if json {
            print_json(&u)?
        } else {
            print_user(&u)
        }
        Ok(ExitCode::SUCCESS)
    };
    // An action on one account (`POST /v1/users/{user}{action}`) answers the account's new view.
    let act = async |a: UserArg, action: &str| {
        show(client.post(&path(&a.user, action), &()).await?, a.out.json)
    };
    match cmd {
        UserCommand::Add {
            email,
            plan,
            password_stdin,
            out,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let created: UserCreated = client
                .post(
                    "/v1/users",
                    &CreateUser {
                        email,
                        plan,
                        password,
                    },
                )
                .await?;
            print_created(&created, out.json)?;
        }
        UserCommand::List { search, out } => {
            let mut users: Vec<UserView> = client.get("/v1/users").await?;
            if let Some(needle) = search.map(|s| s.to_lowercase()) {
                users
                    .retain(|u| u.email.to_lowercase().contains(&needle) || u.id.contains(&needle));
            }
            if out.json {
                print_json(&users)?;
            } else if users.is_empty() {
                println!("no accounts yet: add one with `studiovault user add EMAIL`");
            } else {
                println!(
                    "{:<32}  {:<30}  {:<5}  {:>21}  {:>6}  {:<4}  STATUS",
                    "ID", "E-MAIL", "PLAN", "STORAGE", "TRACKS", "2FA"
                );
                for u in &users {
                    println!(
                        "{:<32}  {:<30}  {:<5}  {:>21}  {:>6}  {:<4}  {}",
                        u.id,
                        u.email,
                        u.plan.as_str(),
                        format!("{} / {}", size(u.used_bytes), size(u.quota_bytes)),
                        u.tracks,
                        if u.totp_enabled { "on" } else { "off" },
                        status_text(&u.status)
                    );
                }
            }
        }
        UserCommand::Show(a) => return show(client.get(&path(&a.user, "")).await?, a.out.json),
        UserCommand::Suspend(a) => return act(a, "/suspend").await,
        UserCommand::Resume(a) => return act(a, "/resume").await,
        UserCommand::TotpReset(a) => return act(a, "/totp/reset").await,
        UserCommand::Delete(a) => return act(a, "/deletion").await,
        UserCommand::Undelete(a) => {
            return show(
                client.delete(&path(&a.user, "/deletion")).await?,
                a.out.json,
            );
        }
        UserCommand::Set {
            user,
            plan,
            quota,
            out,
        } => {
            if plan.is_none() && quota.is_none() {
                bail!("nothing to change: give --plan and/or --quota");
            }
            let quota_bytes = quota.as_deref().map(parse_quota).transpose()?;
            return show(
                client
                    .patch(&path(&user, ""), &UpdateUser { plan, quota_bytes })
                    .await?,
                out.json,
            );
        }
        UserCommand::Password {
            user,
            password_stdin,
            out,
        } => {
            let password = password_stdin.then(read_password).transpose()?;
            let r: UserCreated = client
                .post(&path(&user, "/password"), &ResetPassword { password })
                .await?;
            print_created(&r, out.json)?;
        }
        UserCommand::Sessions(UserSessionsCommand::List(a)) => {
            let sessions: Vec<AdminSessionView> = client.get(&path(&a.user, "/sessions")).await?;
            if a.out.json {
                print_json(&sessions)?
            } else {
                print_sessions(&sessions)
            }
        }
        UserCommand::Sessions(UserSessionsCommand::Revoke(a)) => {
            let r: Revoked = client.post(&path(&a.user, "/sessions/revoke"), &()).await?;
            if a.out.json {
                print_json(&r)?
            } else {
                println!("revoked {} session(s)", r.revoked)
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn sessions(client: &AdminClient, cmd: SessionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionsCommand::List(out) => {
            let sessions: Vec<AdminSessionView> = client.get("/v1/sessions").await?;
            if out.json {
                print_json(&sessions)?
            } else {
                print_sessions(&sessions)
            }
        }
        SessionsCommand::Revoke { id } => {
            let () = client
                .delete(&format!("/v1/sessions/{}", segment(&id)))
                .await?;
            println!("session {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_with_units() {
        assert_eq!(parse_quota("500GiB").unwrap(), Some(500 << 30));
        assert_eq!(parse_quota("2 TiB").unwrap(), Some(2 << 40));
        assert_eq!(parse_quota("1234").unwrap(), Some(1234));
        assert_eq!(parse_quota("plan").unwrap(), None);
        assert!(parse_quota("lots").is_err());
        assert!(parse_quota("5PB").is_err());
        assert!(parse_quota("99999999999TiB").is_err());
    }
}
