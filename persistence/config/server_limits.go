package config

// LimitsConfig is the [server.limits] table. (Its keys are added by the limits
// work of issue 19.)
type LimitsConfig struct{}

// validate checks the table; path is its position in the file.
func (c *LimitsConfig) validate(p *problems, path string) {}
