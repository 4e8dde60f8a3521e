package main

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the daemon's logr.Logger over zap. Verbosity n enables V(n) logs.
func newLogger(format string, verbosity int) (logr.Logger, func(), error) {
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "ts"
		cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.DisableStacktrace = true
		cfg.Development = false
	default:
		return logr.Discard(), nil, fmt.Errorf("--log-format %q: want console or json", format)
	}
	if verbosity < 0 {
		return logr.Discard(), nil, fmt.Errorf("--verbosity %d: must be >= 0", verbosity)
	}
	cfg.Sampling = nil
	cfg.Level = zap.NewAtomicLevelAt(zapcore.Level(-verbosity))
	z, err := cfg.Build()
	if err != nil {
		return logr.Discard(), nil, fmt.Errorf("build logger: %w", err)
	}
	return zapr.NewLogger(z), func() { _ = z.Sync() }, nil
}
