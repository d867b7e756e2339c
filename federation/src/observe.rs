//! One member as the controller reads it each turn: its API server's client and its Cluster,
//! turned into the observation the decisions look at. An unreachable member is an observation,
//! never an error.

use crate::controller::Context;
use crate::member::{self, Roles};
use crate::status::Observed;
use crate::switchover::{MemberView, Standing};
use kube::Client;
use kube::api::Api;
use pgfed_api::cluster::{Cluster, condition as cluster_condition};
use pgfed_api::federation::Federation;

/// A member's Cluster as read this turn.
pub(crate) struct Read {
    /// Its API server's client, when it could be built and the Cluster read.
    pub client: Option<Client>,
    /// Its Cluster, when it exists.
    pub cluster: Option<Cluster>,
    /// What the decisions see of it.
    pub observed: Observed,
}

/// Reads member `m` of `fed` (in the hub namespace `ns`): never fails, an unreachable member is
/// an observation too.
pub(crate) async fn read_member(
    ctx: &Context,
    fed: &Federation,
    ns: &str,
    m: &pgfed_api::federation::FederationMember,
) -> Read {
    let place = member::placement(fed, m);
    let mut observed = Observed {
        view: MemberView {
            name: m.name.clone(),
            ..MemberView::default()
        },
        region: m.region.clone(),
        place: place.clone(),
        kubeconfig: m.kubeconfig_secret_ref.clone(),
        ..Observed::default()
    };
    let client = match ctx.members.client(&ctx.client, ns, m).await {
        Ok(c) => c,
        Err(e) => {
            observed.error = Some(e.to_string());
            return Read {
                client: None,
                cluster: None,
                observed,
            };
        }
    };
    let api: Api<Cluster> = Api::namespaced(client.clone(), &place.namespace);
    match api.get_opt(&place.name).await {
        Ok(cluster) => {
            observed.view.reachable = true;
            if let Some(c) = &cluster {
                let st = c.status.clone().unwrap_or_default();
                let switch = st
                    .conditions
                    .iter()
                    .find(|c| c.type_ == cluster_condition::REPLICA_CLUSTER_SWITCH)
                    .map(|c| c.reason.as_str());
                observed.view.standing = Standing::from_reason(switch);
                observed.view.demotion_token = st.demotion_token.clone();
                observed.view.last_promotion_token = st.last_promotion_token.clone();
                observed.view.system_id = st.system_id.clone();
                observed.view.timeline = st.timeline_id;
                observed.view.told = c.spec.replica.as_ref().and_then(|r| {
                    Some(Roles {
                        primary: r.primary.clone()?,
                        promotion_token: r.promotion_token.clone(),
                    })
                });
                observed.cluster = Some(st);
            } else {
                observed.error = Some(format!(
                    "Cluster {}/{} does not exist yet",
                    place.namespace, place.name
                ));
            }
            Read {
                client: Some(client),
                cluster,
                observed,
            }
        }
        Err(e) => {
            if matches!(&e, kube::Error::Api(s) if s.code == 401 || s.code == 403) {
                ctx.members.recheck(ns, m);
            }
            observed.error = Some(format!(
                "reading Cluster {}/{}: {e}",
                place.namespace, place.name
            ));
            Read {
                client: None,
                cluster: None,
                observed,
            }
        }
    }
}
