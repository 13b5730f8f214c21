use super::{ActionOutcome, ExecAction};
use std::collections::BTreeMap;

pub async fn run(_spec: &ExecAction, _vars: &BTreeMap<String, String>) -> ActionOutcome {
    unimplemented!()
}
