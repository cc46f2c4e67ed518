package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// Flag values are checked before anything runs: a zero or negative
// duration, or a format dive does not know, is a usage error (exit 2) that
// names the flag and what it accepts, never silently a default.

// positiveDuration refuses d <= 0 for flag name.
func positiveDuration(name string, d time.Duration, example string) error {
	if d <= 0 {
		return usageError{fmt.Errorf("--%s %s: must be a positive duration, e.g. %s", name, d, example)}
	}
	return nil
}

// nonNegativeDuration refuses d < 0 for flag name (0 has a meaning).
func nonNegativeDuration(name string, d time.Duration, zero, example string) error {
	if d < 0 {
		return usageError{fmt.Errorf("--%s %s: must be 0 (%s) or a positive duration, e.g. %s", name, d, zero, example)}
	}
	return nil
}

// oneOf refuses a value outside allowed for flag name.
func oneOf(name, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usageError{fmt.Errorf("--%s %q: must be one of %q", name, v, allowed)}
}

// checkGlobalFlags validates the hub's persistent flags.
func (a *app) checkGlobalFlags(*cobra.Command, []string) error {
	if err := positiveDuration("api-timeout", a.g.callTimeout, "30s"); err != nil {
		return err
	}
	return oneOf("log-format", a.g.logFormat, "text", "json")
}

// checkDeployFlags validates deploy's own flags.
func checkDeployFlags(f deployFlags) error {
	if err := positiveDuration("timeout", f.timeout, "10m"); err != nil {
		return err
	}
	return nonNegativeDuration("wait-lock", f.waitLock, "refuse at once when the project is locked", "5m")
}
