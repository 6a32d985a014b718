package config

// AuthConfig is the [server.auth] table. (Its keys are added by the auth
// work of issue 19.)
type AuthConfig struct{}

// validate checks the table; path is its position in the file.
func (c *AuthConfig) validate(p *problems, path string) {}
