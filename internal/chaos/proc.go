package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/patientlink/patientlink/internal/harness"
)

// DefaultPGPort is the chaos suite's private cluster: not the development
// cluster's 54329, because scenario 3 stops it.
const DefaultPGPort = 54333

// Proc is one patientlink process (serve --role api|worker) of a stage.
type Proc struct {
	*harness.Process
	Role string // api or worker
	Addr string // API listen address; also set for workers (unused there)
}

func newProc(bin, name, role, addr, logDir string, env harness.Env) *Proc {
	return &Proc{
		Process: &harness.Process{
			Name: name, Bin: bin, Args: []string{"serve", "--role", role},
			Env:     env.With(harness.Env{"PATIENTLINK_ADDR": addr}).Environ(),
			LogPath: filepath.Join(logDir, name+".log"),
		},
		Role: role, Addr: addr,
	}
}

// Restart starts a killed process again and waits until it is ready.
func (p *Proc) Restart(ctx context.Context) error {
	if err := p.Start(); err != nil {
		return err
	}
	return p.WaitReady(ctx, 30*time.Second)
}

// WaitReady waits for /healthz of an API process; a worker serves no HTTP
// and is ready once its log says River started.
func (p *Proc) WaitReady(ctx context.Context, timeout time.Duration) error {
	var err error
	if p.Role == "api" {
		err = harness.WaitHTTP(ctx, "http://"+p.Addr+"/healthz", timeout, p.Alive)
	} else {
		err = p.WaitLog(ctx, "River workers started", timeout)
	}
	if err != nil {
		return fmt.Errorf("%s not ready: %w:\n%s", p.Name, err, p.LogTail(20))
	}
	return nil
}
