package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// Service is one `patientlink serve --role api|worker|all` process.
type Service struct {
	*Process
	Role string // api, worker or all
	Addr string // the API's listen address; set for workers too (unused there)
}

// NewService is a service of role named name, listening on addr, logging to
// logDir/name.log; it is not started.
func NewService(bin, name, role, addr, logDir string, env Env) *Service {
	return &Service{
		Process: &Process{
			Name: name, Bin: bin, Args: []string{"serve", "--role", role},
			Env:     env.With(Env{"PATIENTLINK_ADDR": addr}).Environ(),
			LogPath: filepath.Join(logDir, name+".log"),
		},
		Role: role, Addr: addr,
	}
}

// Restart starts a killed service again and waits until it is ready.
func (s *Service) Restart(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	return s.WaitReady(ctx, 30*time.Second)
}

// WaitReady waits for /healthz of a service with an API; a worker serves
// no HTTP and is ready once its log says River started.
func (s *Service) WaitReady(ctx context.Context, timeout time.Duration) error {
	var err error
	if s.Role == "worker" {
		err = s.WaitLog(ctx, "River workers started", timeout)
	} else {
		err = WaitHTTP(ctx, "http://"+s.Addr+"/healthz", timeout, s.Alive)
	}
	if err != nil {
		return fmt.Errorf("%s not ready: %w:\n%s", s.Name, err, s.LogTail(20))
	}
	return nil
}
