//! A demotion recorded in PGDATA carried through across restarts, and its token published.

use super::{DEMOTION_RETRY, StartAs, Supervisor, later};
use crate::instance::demote::{self, Demotion};
use crate::run::converge::{advance_demotion, cleanly_shut_down, in_recovery};
use crate::run::decide::{DemotionAction, Server, Target, demotion_action, demotion_wanted};
use std::time::Instant;

impl Supervisor {
    /// Takes a demotion recorded in PGDATA as far as it goes now, publishes its token once it
    /// has one, and says how postgres may start meanwhile.
    pub(super) async fn carry_on_demotion(&mut self) -> StartAs {
        let recorded = match demote::read_record(&self.cfg.pgdata) {
            Ok(recorded) => recorded,
            Err(e) => {
                // Unknown progress: starting could lose the token's WAL; staying down loses nothing.
                tracing::error!(error = %e, label = e.label(), "postgres stays down");
                return StartAs::NotNow;
            }
        };
        if let Some(token) = recorded.as_ref().and_then(Demotion::published_token) {
            self.publish_token(token).await;
        }
        let under_way = recorded
            .as_ref()
            .is_some_and(|d| d.published_token().is_none());
        let server = match (under_way, self.postmaster.running()) {
            // Only looked at while it matters.
            (false, _) => Server::Up,
            (true, false) => Server::Stopped {
                cleanly: cleanly_shut_down(&self.cfg).await,
            },
            (true, true) if in_recovery(&self.cfg).await.is_some() => Server::Up,
            (true, true) => Server::Starting,
        };
        let wanted = demotion_wanted(Target::of(&self.cfg), self.cfg.is_replica_cluster());
        match (demotion_action(recorded.as_ref(), wanted, server), recorded) {
            (DemotionAction::Nothing, _) | (_, None) => StartAs::Configured,
            (DemotionAction::Cancel, _) => {
                tracing::info!("the configuration no longer asks for the demotion: cancelled");
                if let Err(e) = demote::clear_record(&self.cfg.pgdata) {
                    tracing::error!(error = %e, label = e.label(), "cannot cancel the demotion");
                    return StartAs::NotNow;
                }
                StartAs::Configured
            }
            (DemotionAction::StartAsPrimary, _) => StartAs::Primary,
            (DemotionAction::Advance, Some(_)) if later(self.retry_demotion_at) => StartAs::NotNow,
            (DemotionAction::Advance, Some(d)) => {
                match advance_demotion(&self.cfg, &self.config_file, &mut self.postmaster, d).await
                {
                    Ok(d) => {
                        self.retry_demotion_at = None;
                        if let Some(token) = d.published_token() {
                            tracing::info!(%token, "demoted; token published in the status");
                            self.publish_token(token).await;
                        }
                        StartAs::Configured
                    }
                    Err(e) => {
                        tracing::error!(
                            error = %e,
                            label = e.label(),
                            "demotion cannot go on yet; retrying"
                        );
                        self.retry_demotion_at = Some(Instant::now() + DEMOTION_RETRY);
                        StartAs::NotNow
                    }
                }
            }
        }
    }

    pub(super) async fn publish_token(&self, token: &str) {
        let mut published = self.shared.demotion_token.write().await;
        if published.as_deref() != Some(token) {
            *published = Some(token.to_string());
        }
    }
}
