package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/spf13/cobra"
)

func (a *app) nukeCmd() *cobra.Command {
	nuke := &cobra.Command{Use: "nuke", Short: "Remove what dive created on this engine (found by label; never a system prune)"}
	var confirm bool
	all := &cobra.Command{
		Use:   "all",
		Short: "Remove every container, network, volume and image dive created, in every project",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return a.runNuke(c.Context(), "", confirm)
		},
	}
	all.Flags().BoolVar(&confirm, "confirm", false, "really remove (without it dive only lists)")
	var confirmP bool
	project := &cobra.Command{
		Use:   "project NAME",
		Short: "Remove every container, network and volume dive created for one project",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return a.runNuke(c.Context(), args[0], confirmP)
		},
	}
	project.Flags().BoolVar(&confirmP, "confirm", false, "really remove (without it dive only lists)")
	nuke.AddCommand(all, project)
	return nuke
}

type nukeItem struct{ kind, name, id string }

func (a *app) runNuke(ctx context.Context, project string, confirm bool) error {
	eng, err := a.connect(ctx, nil)
	if err != nil {
		return err
	}
	defer eng.Close()
	managed := engine.LabelManaged + "=true"
	var items []nukeItem
	cs, err := eng.ListContainers(ctx, "")
	if err != nil {
		return err
	}
	for _, c := range cs {
		if project == "" || c.Project == project || c.Labels["io.dive.lock.project"] == project {
			items = append(items, nukeItem{"container", c.Name, c.ID})
		}
	}
	nets, err := eng.ListNetworks(ctx, managed)
	if err != nil {
		return err
	}
	for _, n := range nets {
		if project == "" || n.Labels[engine.LabelProject] == project || n.Labels[engine.LabelCreatedFor] == project {
			items = append(items, nukeItem{"network", n.Name, n.ID})
		}
	}
	vols, err := eng.ListVolumes(ctx, managed)
	if err != nil {
		return err
	}
	for _, v := range vols {
		if project == "" || v.Labels[engine.LabelProject] == project || v.Labels["io.dive.lock.project"] == project {
			items = append(items, nukeItem{"volume", v.Name, v.Name})
		}
	}
	if project == "" {
		ims, err := eng.ListImages(ctx, managed)
		if err != nil {
			return err
		}
		for _, im := range ims {
			items = append(items, nukeItem{"image", strings.Join(im.Tags, ","), im.ID})
		}
	}
	scope := "every project"
	if project != "" {
		scope = "project " + project
	}
	if len(items) == 0 {
		fmt.Fprintf(a.stdout, "nothing created by dive on this engine (%s)\n", scope)
		return nil
	}
	if !confirm {
		fmt.Fprintf(a.stdout, "dive would remove (%s; only objects labelled %s):\n", scope, managed)
		for _, it := range items {
			fmt.Fprintf(a.stdout, "  %-9s %s\n", it.kind, it.name)
		}
		return &ExitError{Code: ExitFailed, Err: errors.New("nothing removed: add --confirm to remove the above")}
	}
	var errs []string
	for _, kind := range []string{"container", "network", "volume", "image"} {
		for _, it := range items {
			if it.kind != kind {
				continue
			}
			var err error
			switch kind {
			case "container":
				err = eng.Remove(ctx, it.id, true)
			case "network":
				err = eng.RemoveNetwork(ctx, it.id)
			case "volume":
				err = eng.RemoveVolume(ctx, it.id)
			case "image":
				err = eng.RemoveImage(ctx, it.id)
			}
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s %s: %v", kind, it.name, err))
				continue
			}
			fmt.Fprintf(a.stdout, "removed %s %s\n", kind, it.name)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("nuke left some things behind:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}
