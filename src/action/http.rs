use super::{ActionOutcome, HttpAction};
use std::collections::BTreeMap;

pub async fn run(
    _spec: &HttpAction,
    _vars: &BTreeMap<String, String>,
    _client: &reqwest::Client,
) -> ActionOutcome {
    unimplemented!()
}
