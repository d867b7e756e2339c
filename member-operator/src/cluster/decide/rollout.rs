//! The rolling update: when the pod the spec now describes differs from a running one (image,
//! resources, anything in the pod spec; the hash annotation tells), instances are replaced one at
//! a time — standbys first, each ready again before the next, the primary last — as
//! CloudNativePG does. The primary is restarted in place when `primaryUpdateStrategy` is
//! `unsupervised`; `supervised` waits for the user. (`primaryUpdateMethod: switchover` needs the
//! switchover of the high-availability issue; until then the primary restarts.)

/// One running instance as the rollout sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutInstance {
    /// Serial.
    pub serial: u32,
    /// Its pod runs the spec's current pod (hash annotations equal).
    pub current: bool,
    /// Its pod is Ready.
    pub ready: bool,
    /// It is the primary.
    pub primary: bool,
}

/// What the rollout does now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutStep {
    /// Every pod runs the current spec.
    Done,
    /// An instance is not ready: wait before replacing another.
    Wait,
    /// Replace this standby's pod (delete it; it is recreated on its claims).
    ReplaceStandby(u32),
    /// Replace the primary's pod (a restart: a short write outage).
    ReplacePrimary(u32),
    /// Only the primary is outdated and the strategy is supervised: wait for the user.
    WaitForUser(u32),
}

/// The next rollout step. Pure. `supervised` is `primaryUpdateStrategy: supervised`;
/// `primary_first` turns the order round (a restart that lowers a setting standbys must keep at
/// least as high as their primary, such as `max_connections`: a standby restarted first would
/// refuse to start).
pub fn next_step(
    instances: &[RolloutInstance],
    supervised: bool,
    primary_first: bool,
) -> RolloutStep {
    let outdated: Vec<&RolloutInstance> = instances.iter().filter(|i| !i.current).collect();
    if outdated.is_empty() {
        return RolloutStep::Done;
    }
    // An outdated pod that is not ready serves nothing: replacing it at once is how a fixed spec
    // (an image that can be pulled now) reaches a pod stuck on the old one.
    if let Some(stuck) = outdated.iter().find(|i| !i.ready) {
        return if stuck.primary {
            RolloutStep::ReplacePrimary(stuck.serial)
        } else {
            RolloutStep::ReplaceStandby(stuck.serial)
        };
    }
    if instances.iter().any(|i| !i.ready) {
        return RolloutStep::Wait;
    }
    let primary = outdated.iter().find(|i| i.primary);
    match primary {
        Some(p) if primary_first && supervised => return RolloutStep::WaitForUser(p.serial),
        Some(p) if primary_first => return RolloutStep::ReplacePrimary(p.serial),
        _ => {}
    }
    // Highest serial first: the most recently added standby is the least likely to be depended on.
    if let Some(standby) = outdated
        .iter()
        .filter(|i| !i.primary)
        .map(|i| i.serial)
        .max()
    {
        return RolloutStep::ReplaceStandby(standby);
    }
    match primary {
        Some(primary) if supervised => RolloutStep::WaitForUser(primary.serial),
        Some(primary) => RolloutStep::ReplacePrimary(primary.serial),
        None => RolloutStep::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(serial: u32, current: bool, ready: bool, primary: bool) -> RolloutInstance {
        RolloutInstance {
            serial,
            current,
            ready,
            primary,
        }
    }

    #[test]
    fn standbys_first_one_at_a_time_then_the_primary() {
        use RolloutStep::*;
        let cases = [
            (
                "all current",
                vec![i(1, true, true, true), i(2, true, true, false)],
                false,
                Done,
            ),
            (
                "highest standby first",
                vec![
                    i(1, false, true, true),
                    i(2, false, true, false),
                    i(3, false, true, false),
                ],
                false,
                ReplaceStandby(3),
            ),
            (
                "wait while one is not ready",
                vec![
                    i(1, false, true, true),
                    i(2, false, true, false),
                    i(3, true, false, false),
                ],
                false,
                Wait,
            ),
            (
                "primary last",
                vec![
                    i(1, false, true, true),
                    i(2, true, true, false),
                    i(3, true, true, false),
                ],
                false,
                ReplacePrimary(1),
            ),
            (
                "supervised primary waits for the user",
                vec![i(1, false, true, true), i(2, true, true, false)],
                true,
                WaitForUser(1),
            ),
            (
                "supervised still rolls standbys",
                vec![i(1, false, true, true), i(2, false, true, false)],
                true,
                ReplaceStandby(2),
            ),
            (
                "a primary that is not the lowest serial",
                vec![i(1, true, true, false), i(2, false, true, true)],
                false,
                ReplacePrimary(2),
            ),
        ];
        for (name, instances, supervised, want) in cases {
            assert_eq!(next_step(&instances, supervised, false), want, "{name}");
        }
    }

    #[test]
    fn a_lowered_standby_minimum_restarts_the_primary_first() {
        use RolloutStep::*;
        let all_outdated = vec![
            i(1, false, true, true),
            i(2, false, true, false),
            i(3, false, true, false),
        ];
        assert_eq!(next_step(&all_outdated, false, true), ReplacePrimary(1));
        assert_eq!(next_step(&all_outdated, true, true), WaitForUser(1));
        // Then the standbys, as usual.
        let primary_done = vec![
            i(1, true, true, true),
            i(2, false, true, false),
            i(3, false, true, false),
        ];
        assert_eq!(next_step(&primary_done, false, true), ReplaceStandby(3));
        // Never while an instance is not ready.
        let restarting = vec![i(1, false, false, true), i(2, false, true, false)];
        assert_eq!(next_step(&restarting, false, true), ReplacePrimary(1));
        let standby_down = vec![i(1, false, true, true), i(2, true, false, false)];
        assert_eq!(next_step(&standby_down, false, true), Wait);
    }
}
