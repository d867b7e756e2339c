//! The conditions table both status commands print (`metav1.Condition`s of a Cluster or a
//! Federation).

use super::table::Table;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A table of `conditions`: type, status, reason, message, in the order given.
pub fn table<'a>(conditions: impl IntoIterator<Item = &'a Condition>) -> Table {
    let mut t = Table::new(&["TYPE", "STATUS", "REASON", "MESSAGE"]);
    for c in conditions {
        t.row(vec![
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.message.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn one_row_per_condition_in_order() {
        let c = |t: &str, s: &str, r: &str, m: &str| Condition {
            type_: t.into(),
            status: s.into(),
            reason: r.into(),
            message: m.into(),
            observed_generation: None,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        };
        let conditions = [
            c("Ready", "False", "NotReady", "waiting for pg-2"),
            c("ContinuousArchiving", "True", "Archiving", ""),
        ];
        assert_eq!(
            table(&conditions).render(),
            "TYPE                 STATUS  REASON     MESSAGE\n\
             Ready                False   NotReady   waiting for pg-2\n\
             ContinuousArchiving  True    Archiving  -"
        );
    }
}
