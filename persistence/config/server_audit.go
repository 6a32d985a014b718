package config

// AuditConfig is the [server.audit] table. (Its keys are added by the audit
// work of issue 19.)
type AuditConfig struct{}

// validate checks the table; path is its position in the file.
func (c *AuditConfig) validate(p *problems, path string) {}
