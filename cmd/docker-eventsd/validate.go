package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
)

func newValidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate events.yml",
		Short: "Check a config: exit 0 and a summary when valid (and warnings for TLS files not usable yet), exit 2 and every error when not",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0])
			if err != nil {
				var list config.ErrorList
				if errors.As(err, &list) {
					for _, e := range list {
						fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
					}
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), err.Error())
				}
				return exitCode(2)
			}
			fmt.Fprintln(cmd.OutOrStdout(), cfg.Summary())
			// TLS files that cannot be used yet: run starts without them.
			for _, w := range cfg.CheckFiles() {
				fmt.Fprintln(cmd.ErrOrStderr(), w.Warning())
			}
			return nil
		},
	}
}
