//! pg_hba.conf and pg_ident.conf rendering. Local connections map OS users through pg_ident
//! (`map=local`); replication authenticates only with client certificates; the superuser over
//! the network with a client certificate, or with its password when `enableSuperuserAccess` gives
//! it one (as CloudNativePG); application users use SCRAM. With TLS configured (every pod the
//! operator makes), every network login must use TLS: a plain connection is rejected. User lines
//! come first so they can loosen or tighten access.

use crate::config::ManagerConfig;

/// The replication user pgfed creates.
pub const REPLICATION_USER: &str = "streaming_replica";

/// pg_hba.conf text. Pure.
pub fn render_hba(cfg: &ManagerConfig) -> String {
    let mut lines = vec![
        "# Written by the pgfed instance manager; edits are overwritten.".to_string(),
        "local all all peer map=local".to_string(),
    ];
    lines.extend(cfg.postgresql.pg_hba.iter().cloned());
    lines.push(format!("hostssl postgres {REPLICATION_USER} all cert"));
    lines.push(format!("hostssl replication {REPLICATION_USER} all cert"));
    let superuser = if cfg.enable_superuser_access {
        "scram-sha-256"
    } else {
        "cert"
    };
    lines.push(format!("hostssl all postgres all {superuser}"));
    if cfg.certificates.is_some() {
        lines.push("hostssl all all all scram-sha-256".to_string());
        lines.push("hostnossl all all all reject".to_string());
    } else {
        // No server certificate (a manager run by hand for development): TLS is impossible.
        lines.push("host all all all scram-sha-256".to_string());
    }
    lines.join("\n") + "\n"
}

/// pg_ident.conf text: the `postgres` OS user is the `postgres` role; user lines add more. Pure.
pub fn render_ident(cfg: &ManagerConfig) -> String {
    let mut lines = vec![
        "# Written by the pgfed instance manager; edits are overwritten.".to_string(),
        "local postgres postgres".to_string(),
    ];
    lines.extend(cfg.postgresql.pg_ident.iter().cloned());
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_rules_precede_defaults_and_replication_uses_certificates() {
        let mut cfg = ManagerConfig::default();
        cfg.postgresql
            .pg_hba
            .push("host app app 10.0.0.0/8 reject".into());
        cfg.postgresql.pg_ident.push("local root postgres".into());
        let hba = render_hba(&cfg);
        let user = hba.find("10.0.0.0/8").expect("user line");
        let scram = hba.find("scram-sha-256").expect("default line");
        assert!(user < scram);
        assert!(hba.contains("hostssl replication streaming_replica all cert"));
        assert!(!hba.contains("trust"));
        assert!(render_ident(&cfg).ends_with("local root postgres\n"));
    }

    #[test]
    fn network_logins_need_tls_and_the_superuser_password_only_when_access_is_enabled() {
        let last_lines = |cfg: &ManagerConfig| -> Vec<String> {
            let hba = render_hba(cfg);
            let lines: Vec<String> = hba.lines().map(str::to_string).collect();
            lines[lines.len() - 3..].to_vec()
        };
        let mut cfg = ManagerConfig::default();
        assert_eq!(
            last_lines(&cfg),
            [
                "hostssl replication streaming_replica all cert",
                "hostssl all postgres all cert",
                "host all all all scram-sha-256"
            ]
        );
        cfg.certificates = Some(crate::config::CertificateFiles::default());
        assert_eq!(
            last_lines(&cfg),
            [
                "hostssl all postgres all cert",
                "hostssl all all all scram-sha-256",
                "hostnossl all all all reject"
            ]
        );
        cfg.enable_superuser_access = true;
        assert_eq!(
            last_lines(&cfg)[0],
            "hostssl all postgres all scram-sha-256"
        );
    }
}
