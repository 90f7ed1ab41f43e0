package server

import (
	"strings"
	"testing"
)

// DefaultConfig is usable as it is; zero limits are refused, not
// silently replaced by defaults.
func TestConfigCheck(t *testing.T) {
	if err := DefaultConfig().Check(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*Config){
		"workers":    func(c *Config) { c.Workers = 0 },
		"queue":      func(c *Config) { c.Queue = -1 },
		"timeout":    func(c *Config) { c.Timeout = 0 },
		"upload":     func(c *Config) { c.MaxUploadBytes = 0 },
		"samples":    func(c *Config) { c.MaxSamples = 0 },
		"scales":     func(c *Config) { c.MinScale, c.MaxScale = 4, 2 },
		"zero scale": func(c *Config) { c.MinScale = 0 },
		"logger":     func(c *Config) { c.Logger = nil },
		"zero value": func(c *Config) { *c = Config{} },
	} {
		c := DefaultConfig()
		change(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "server:") {
			t.Errorf("%s: New accepted it (%v)", name, err)
		}
	}
	c := DefaultConfig()
	c.Queue = 0 // no queue is a valid choice
	if err := c.Check(); err != nil {
		t.Errorf("queue 0: %v", err)
	}
}
