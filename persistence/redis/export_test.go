package redis

// OpsScriptSource lets the benchmarks run the driver's own write script
// with the raw client, to separate the provider's overhead from the cost of
// the script.
var OpsScriptSource = opsScriptSrc
