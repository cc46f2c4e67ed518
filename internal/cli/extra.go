package cli

import "github.com/spf13/cobra"

func (a *app) extraHubCommands() []*cobra.Command {
	return append(a.validateCommands(), a.recordCommands()...)
}
