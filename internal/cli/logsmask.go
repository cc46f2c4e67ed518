package cli

import (
	"context"
	"strings"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/redact"
)

// logsRedactor masks in `hub logs` what a deploy masks in its diagnosis:
// the stack's secrets (env-file values, sensitive variables, credentials in
// URLs) when the compose file loads, plus the same kinds of values from
// each container's own environment, so that logs stay masked when the
// compose file no longer loads or has changed since the deploy.
func logsRedactor(ctx context.Context, eng *engine.Engine, l *loaded, cs []engine.Container) *redact.Redactor {
	var secrets []string
	if l != nil {
		secrets = outputSecrets(l.st)
	}
	for _, c := range cs {
		ins, err := eng.Inspect(ctx, c.ID)
		if err != nil || ins.Config == nil {
			continue
		}
		env := map[string]string{}
		for _, kv := range ins.Config.Env {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		secrets = append(secrets, redact.SecretsFromEnv(env, nil)...)
	}
	return redact.New(secrets)
}
