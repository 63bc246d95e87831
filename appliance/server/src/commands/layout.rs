//! Where the Debian package (installer/build-deb.sh) puts the appliance, and the names its
//! units use: what `setup` writes to and `doctor` checks.

/// The service's user, made by the package's sysusers.d file.
pub const SERVICE_USER: &str = "studiovault";
/// The service's group: members reach the admin socket without root.
pub const ADMIN_GROUP: &str = "studiovault-admin";
pub const SERVICE_UNIT: &str = "studiovault.service";
/// The snapshot and drill timers, enabled when backups are configured.
pub const TIMERS: [&str; 4] = [
    "studiovault-backup-hourly.timer",
    "studiovault-backup-daily.timer",
    "studiovault-backup-weekly.timer",
    "studiovault-drill.timer",
];
/// Secret files `setup` writes (mode 0600, owned by the service user).
pub const SECRETS_DIR: &str = "/etc/studiovault/secrets";
/// Drop-ins `setup` adds to the unit (a local backup repository the service must write).
pub const UNIT_DROP_IN_DIR: &str = "/etc/systemd/system/studiovault.service.d";
/// The commented default configuration the package ships.
pub const DEFAULT_CONFIG: &str = "/usr/share/studiovault/studiovault.toml";
/// The service's state directory (`StateDirectory=studiovault`).
pub const DATA_DIR: &str = "/var/lib/studiovault";
/// The admin socket, in the service's runtime directory (`RuntimeDirectory=studiovault`).
pub const ADMIN_SOCKET: &str = "/run/studiovault/admin.sock";
