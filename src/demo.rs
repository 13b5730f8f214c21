// TEMP stub until the demo branch lands.
use crate::config::Config;
pub const AUTO_FIXABLE: &[&str] = &["DB_TIMEOUT", "MEM_LEAK", "NET_SPIKE", "CRASH"];
pub struct DemoFleet;
impl DemoFleet {
    pub async fn start() -> std::io::Result<DemoFleet> {
        unimplemented!()
    }
    pub fn config(&self) -> Config {
        unimplemented!()
    }
    pub fn shutdown(&self) {}
}
