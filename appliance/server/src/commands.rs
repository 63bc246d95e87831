//! The admin subcommands: each is one or two calls to the admin socket, printed for people
//! or, with `--json`, for scripts.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use studiovault_api::AccountStatus;
use studiovault_api::admin::{
    AdminSessionView, AuditEntry, AuditVerifyReport, CertificateView, CreateUser, ResetPassword,
    Revoked, Status, TlsStatus, UpdateUser, UserCreated, UserView,
};
use studiovault_api::public::{TraceRequest, TraceView};

use crate::cli::{
    AuditCommand, LeakCommand, SessionsCommand, TlsCommand, UserCommand, UserSessionsCommand,
    WatermarkCommand,
};
use crate::human::{size, when};
use studiovault_api::client::{AdminClient, segment};

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

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

fn print_entry(e: &AuditEntry) {
    println!(
        "#{:<6} {}  {:<38} {:<26} {}{}{}",
        e.seq,
        when(e.at_ms),
        e.actor,
        e.action,
        e.object.as_deref().unwrap_or("-"),
        e.client
            .as_deref()
            .map(|c| format!("  client={c}"))
            .unwrap_or_default(),
        e.detail
            .as_deref()
            .map(|d| format!("  ({d})"))
            .unwrap_or_default(),
    );
}

fn print_entry_in_full(e: &AuditEntry) {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("record #{}", e.seq);
    println!("  when     {}", when(e.at_ms));
    println!("  action   {}", e.action);
    println!("  actor    {}", e.actor);
    println!("  account  {}", or_dash(&e.owner));
    println!("  object   {}", or_dash(&e.object));
    println!("  client   {}", or_dash(&e.client));
    println!("  detail   {}", or_dash(&e.detail));
    println!("  hash     {}", e.hash);
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
    match cmd {
        UserCommand::Add {
            email,
            plan,
            password_stdin,
            out,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
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
        UserCommand::Suspend(a) => {
            return show(
                client.post(&path(&a.user, "/suspend"), &()).await?,
                a.out.json,
            );
        }
        UserCommand::Resume(a) => {
            return show(
                client.post(&path(&a.user, "/resume"), &()).await?,
                a.out.json,
            );
        }
        UserCommand::TotpReset(a) => {
            return show(
                client.post(&path(&a.user, "/totp/reset"), &()).await?,
                a.out.json,
            );
        }
        UserCommand::Delete(a) => {
            return show(
                client.post(&path(&a.user, "/deletion"), &()).await?,
                a.out.json,
            );
        }
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
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
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

pub async fn audit(client: &AdminClient, cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify(out) => {
            let report: AuditVerifyReport = client.post("/v1/audit/verify", &()).await?;
            if out.json {
                print_json(&report)?;
            } else if let Some(p) = &report.first_problem {
                println!(
                    "audit chain BROKEN at record #{} ({:?}): {}",
                    p.seq, p.kind, p.message
                );
            } else {
                println!(
                    "audit chain OK: {} records, {} signed checkpoints{}",
                    report.records,
                    report.checkpoints,
                    report
                        .last_checkpoint_seq
                        .map(|s| format!(" (newest covers #{s})"))
                        .unwrap_or_default()
                );
                println!("checkpoint key: {}", report.public_key);
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        AuditCommand::Show { seq, out } => {
            let found: Vec<AuditEntry> = client
                .get(&format!(
                    "/v1/audit?before={}&limit=1",
                    seq.saturating_add(1)
                ))
                .await?;
            let Some(entry) = found.into_iter().find(|e| e.seq == seq) else {
                bail!("there is no audit record #{seq}");
            };
            if out.json {
                print_json(&entry)?;
            } else {
                print_entry_in_full(&entry);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Tail {
            lines,
            follow,
            user,
            action,
            since,
            until,
            out,
        } => {
            let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
            let bound = |raw: Option<String>, flag: &str| {
                raw.map(|r| studiovault_tui::parse_time_bound(&r, now_ms))
                    .transpose()
                    .with_context(|| format!("--{flag}"))
            };
            let (since_ms, until_ms) = (bound(since, "since")?, bound(until, "until")?);
            let filters = |extra: &str| {
                let mut q = extra.to_owned();
                if let Some(u) = &user {
                    q.push_str(&format!("&user={}", segment(u)));
                }
                if let Some(a) = &action {
                    q.push_str(&format!("&action={}", segment(a)));
                }
                if let Some(ms) = since_ms {
                    q.push_str(&format!("&since_ms={ms}"));
                }
                if let Some(ms) = until_ms {
                    q.push_str(&format!("&until_ms={ms}"));
                }
                q
            };
            let mut entries: Vec<AuditEntry> = client
                .get(&format!("/v1/audit?{}", filters(&format!("limit={lines}"))))
                .await?;
            entries.reverse();
            let mut last = entries.last().map(|e| e.seq);
            let emit = |entries: &[AuditEntry]| -> anyhow::Result<()> {
                for e in entries {
                    if out.json {
                        println!("{}", serde_json::to_string(e)?)
                    } else {
                        print_entry(e)
                    }
                }
                Ok(())
            };
            emit(&entries)?;
            if !follow {
                return Ok(ExitCode::SUCCESS);
            }
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                // Without a filter hit yet, start from the current head.
                let after = match last {
                    Some(seq) => seq,
                    None => {
                        let head: Vec<AuditEntry> = client.get("/v1/audit?limit=1").await?;
                        head.first().map_or(0, |e| e.seq)
                    }
                };
                let mut fresh: Vec<AuditEntry> = client
                    .get(&format!(
                        "/v1/audit?{}",
                        filters(&format!("after={after}&limit=1000"))
                    ))
                    .await?;
                fresh.reverse();
                emit(&fresh)?;
                last = Some(fresh.last().map_or(after, |e| e.seq));
            }
        }
    }
}

pub async fn status(client: &AdminClient, json: bool) -> anyhow::Result<ExitCode> {
    let s: Status = client.get("/v1/status").await?;
    if json {
        print_json(&s)?;
    } else {
        println!(
            "Studio Vault {} — up {}s, listening on {}",
            s.version, s.uptime_secs, s.listen
        );
        println!("  data       {}", s.data_dir);
        println!("  accounts   {}", s.users);
        println!("  tracks     {} ({})", s.tracks, size(s.stored_bytes));
        println!(
            "  disk free  {}",
            s.disk_free_bytes
                .map(size)
                .unwrap_or_else(|| "unknown".into())
        );
        println!("  audit log  {} records", s.audit_records);
        for c in &s.capabilities {
            println!("  {:<16} {:<14} {}", c.name, c.state.as_str(), c.detail);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_certificate(c: &CertificateView) {
    println!("  subject     {}", c.subject);
    println!("  issuer      {}", c.issuer);
    println!("  names       {}", c.names.join(", "));
    println!(
        "  valid       {} to {}",
        when(c.not_before),
        when(c.not_after)
    );
    println!("  serial      {}", c.serial);
    println!("  sha256      {}", c.sha256);
}

pub async fn tls(client: &AdminClient, cmd: TlsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TlsCommand::Status(out) => {
            let s: TlsStatus = client.get("/v1/tls").await?;
            if out.json {
                print_json(&s)?;
                return Ok(ExitCode::SUCCESS);
            }
            println!("TLS mode {}, HTTPS on {}", s.mode, s.https_listen);
            match &s.certificate {
                Some(c) => print_certificate(c),
                None => println!("  no certificate yet"),
            }
            if let Some(at) = s.next_attempt {
                println!("  next try    {}", when(at));
            }
            if let Some(e) = &s.last_error {
                println!("  last error  {e} ({} failure(s) in a row)", s.failures);
            }
            if let Some(at) = s.ca_wait_until {
                println!("  CA wait     the CA asked for quiet until {}", when(at));
            }
            if let Some(root) = &s.root_certificate {
                println!("  local CA root certificate: {}", root.path);
                println!("  its SHA-256 fingerprint:   {}", root.sha256);
                println!("  install it as a trusted root on the studio's machines once.");
            }
            Ok(if s.last_error.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        TlsCommand::Renew(out) => {
            let c: CertificateView = client.post("/v1/tls/renew", &serde_json::json!({})).await?;
            if out.json {
                print_json(&c)?;
            } else {
                println!("new certificate installed for new connections:");
                print_certificate(&c);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `studiovault analyze FILE`: the upload analysis, on one local file.
pub async fn analyze(path: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = file.metadata()?.len();
    let options = studiovault_audio::AnalysisOptions::default();
    let (result, _) =
        tokio::task::spawn_blocking(move || crate::analysis::analyse(file, len, &options))
            .await?
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if json {
        print_json(&result)?;
    } else {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
        println!("{}", path.display());
        println!(
            "  tempo      {}",
            or_dash(result.tempo_bpm.map(|b| format!(
                "{b:.1} BPM ({:.0} % sure)",
                result.tempo_confidence.unwrap_or(0.0) * 100.0
            )))
        );
        println!(
            "  key        {}",
            or_dash(result.key.clone().map(|k| format!(
                "{k} · {} ({:.0} % sure)",
                result.camelot.clone().unwrap_or_default(),
                result.key_confidence.unwrap_or(0.0) * 100.0
            )))
        );
        println!(
            "  loudness   {}",
            or_dash(
                result
                    .integrated_lufs
                    .map(|l| format!("{l:.1} LUFS integrated"))
            )
        );
        println!(
            "  range      {}",
            or_dash(result.loudness_range_lu.map(|l| format!("{l:.1} LU")))
        );
        println!(
            "  true peak  {}",
            or_dash(result.true_peak_dbtp.map(|p| format!("{p:.1} dBTP")))
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The appliance's watermark key, from its master key file.
fn watermark_key(
    config: &crate::config::Config,
) -> anyhow::Result<studiovault_watermark::WatermarkKey> {
    let path = config.master_key_path();
    let master = studiovault_vault::MasterKey::load(&path)
        .with_context(|| format!("reading the master key {}", path.display()))?;
    Ok(studiovault_watermark::WatermarkKey::from_bytes(
        *master.watermark_key(),
    ))
}

pub async fn watermark(
    config: &crate::config::Config,
    cmd: WatermarkCommand,
) -> anyhow::Result<ExitCode> {
    let key = watermark_key(config)?;
    match cmd {
        WatermarkCommand::Embed {
            input,
            output,
            payload,
        } => {
            let digits = payload.trim_start_matches("0x");
            if digits.is_empty() || digits.len() > 16 {
                bail!("--payload takes 1 to 16 hex digits (a 64-bit recipient id)");
            }
            let id = u64::from_str_radix(digits, 16)
                .with_context(|| format!("--payload `{payload}` is not hexadecimal"))?;
            let flac = match output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("flac") => true,
                Some("wav") => false,
                _ => bail!("the output must end in .wav or .flac"),
            };
            let (rate, channels, secs) =
                tokio::task::spawn_blocking(move || -> anyhow::Result<(u32, u16, f64)> {
                    let open = || {
                        std::fs::File::open(&input)
                            .with_context(|| format!("cannot open {}", input.display()))
                    };
                    let file = open()?;
                    let len = file.metadata()?.len();
                    let mut head = [0u8; 16];
                    let mut sniffing = open()?;
                    std::io::Read::read_exact(&mut sniffing, &mut head)
                        .context("the input is too short to be audio")?;
                    let container = studiovault_audio::Container::sniff(&head)
                        .context("the input is not an audio file this appliance reads")?;
                    let info = studiovault_audio::probe(open()?, len, container)?;
                    let encoding = studiovault_marking::Encoding::for_source(
                        info.bits_per_sample,
                        info.codec.starts_with("pcm_f"),
                    );
                    let stream = studiovault_marking::MarkedStream::open(
                        file,
                        len,
                        &key,
                        studiovault_watermark::Payload::new(id),
                        Default::default(),
                    )?;
                    let (rate, channels) = (stream.sample_rate, stream.channels);
                    let tmp = output.with_extension("partial");
                    if flac {
                        std::fs::write(&tmp, studiovault_marking::encode_flac(stream, encoding)?)?;
                    } else {
                        studiovault_marking::write_wav(
                            stream,
                            encoding,
                            std::io::BufWriter::new(std::fs::File::create(&tmp)?),
                        )?;
                    }
                    std::fs::rename(&tmp, &output)?;
                    Ok((rate, channels, info.duration_secs.unwrap_or(0.0)))
                })
                .await??;
            println!("marked with {id:016x}: {secs:.1} s, {rate} Hz, {channels} channel(s)");
            Ok(ExitCode::SUCCESS)
        }
        WatermarkCommand::Detect { file, out } => {
            let shown = file.display().to_string();
            let found = tokio::task::spawn_blocking(move || read_mark(&file, &key))
                .await?
                .with_context(|| format!("reading {shown}"))?
                .detection;
            if out.json {
                print_json(&match &found {
                    Some(d) => {
                        serde_json::json!({"found": true, "payload": format!("{:016x}", d.payload.id), "confidence": d.confidence, "speed": d.speed})
                    }
                    None => serde_json::json!({"found": false}),
                })?;
            } else {
                match &found {
                    Some(d) => println!(
                        "{shown}: watermark {:016x} (confidence {:.2}, speed {:.3}x)",
                        d.payload.id, d.confidence, d.speed
                    ),
                    None => println!("{shown}: no watermark of this appliance"),
                }
            }
            Ok(if found.is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Everything the detector reads from a suspect file: the payload, if one decodes, and the soft
/// bits to score candidates against.
fn read_mark(
    path: &std::path::Path,
    key: &studiovault_watermark::WatermarkKey,
) -> anyhow::Result<studiovault_watermark::Analysis> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    Ok(studiovault_marking::analyze(
        file,
        len,
        key,
        studiovault_audio::DecodeLimits::default(),
    )?)
}

pub async fn leak(
    config: &crate::config::Config,
    client: &AdminClient,
    cmd: LeakCommand,
) -> anyhow::Result<ExitCode> {
    let LeakCommand::Trace { file, out } = cmd;
    let key = watermark_key(config)?;
    let shown = file.display().to_string();
    let analysis = tokio::task::spawn_blocking(move || read_mark(&file, &key))
        .await?
        .with_context(|| format!("reading {shown}"))?;
    if analysis.detection.is_none() && analysis.soft_bits.is_none() {
        if out.json {
            print_json(&serde_json::json!({"found": false, "payload": null}))?;
        } else {
            println!("{shown}: no watermark of this appliance");
        }
        return Ok(ExitCode::FAILURE);
    }
    let request = TraceRequest {
        payload: analysis
            .detection
            .as_ref()
            .map(|d| format!("{:016x}", d.payload.id)),
        soft_bits: analysis.soft_bits.as_ref().map(|s| s.values().to_vec()),
    };
    let trace: TraceView = client.post("/v1/leaks/trace", &request).await?;
    if out.json {
        print_json(&trace)?;
    } else {
        if let (Some(share), Some(recipient), Some(d)) =
            (&trace.share, &trace.recipient, &analysis.detection)
        {
            println!(
                "{shown}: watermark {:016x} (confidence {:.2})",
                d.payload.id, d.confidence
            );
            println!(
                "  recipient  {}{}",
                recipient.name,
                recipient
                    .email
                    .as_deref()
                    .map(|e| format!(" <{e}>"))
                    .unwrap_or_default()
            );
            println!(
                "  share      {} ({}), created {}, owner {}",
                share.title,
                share.id,
                when(share.created_at),
                trace.owner_email.as_deref().unwrap_or("?")
            );
            for copy in &trace.copies {
                println!("  copy of    {} issued {}", copy.name, when(copy.issued_at));
            }
            for e in recipient
                .events
                .iter()
                .filter(|e| e.kind == "played" || e.kind == "downloaded")
            {
                println!("  {:<10} {}", e.kind, when(e.at));
            }
        } else if let Some(p) = &trace.payload {
            println!("{shown}: watermark {p}, but no recipient on this appliance has it");
        } else {
            println!("{shown}: no payload decodes");
        }
        for s in &trace.suspects {
            println!(
                "  also carries the copy of {} (share {}, score {:.1} ≥ {:.1})",
                s.recipient.name,
                s.share.title,
                s.score,
                trace.threshold.unwrap_or(0.0)
            );
        }
    }
    Ok(if trace.found {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
