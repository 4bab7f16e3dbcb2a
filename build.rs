//! Stamps the build date and builder into the binary for the status page.
fn main() {
    let now = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let builder = std::env::var("ODR_BUILDER")
        .or_else(|_| std::env::var("USER").map(|u| format!("cargo ({u})")))
        .unwrap_or_else(|_| "cargo".to_string());
    println!("cargo:rustc-env=ODR_BUILD_DATE={now}");
    println!("cargo:rustc-env=ODR_BUILDER={builder}");
    println!("cargo:rerun-if-env-changed=ODR_BUILDER");
}
