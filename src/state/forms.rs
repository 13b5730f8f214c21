//! Serde forms for what JSON cannot hold as is: maps keyed by tuples.

use serde::{Deserialize, Deserializer};
use std::collections::HashMap;

use super::StepRecord;

/// Reads `learning` back from the list of records it is written as.
pub fn learning_from_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<HashMap<(String, String), StepRecord>, D::Error> {
    #[derive(Deserialize)]
    struct Row {
        playbook: String,
        step: String,
        #[serde(flatten)]
        record: StepRecord,
    }
    let rows = Vec::<Row>::deserialize(d)?;
    Ok(rows
        .into_iter()
        .map(|r| ((r.playbook, r.step), r.record))
        .collect())
}

/// A map with tuple keys as a list of pairs (JSON keys are strings).
pub mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::HashMap;
    use std::hash::Hash;

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map)
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
