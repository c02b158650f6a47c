package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/twmb/franz-go/pkg/kgo"
)

const scaleTopic = "bench-scale"

// scale runs the five scale measurements on three brokers.
func scale(ctx context.Context, cfg config, env *cluster.Env) (err error) {
	dir := filepath.Join(env.Dir, "scale")
	c := make(cluster.Cluster, numBrokers)
	pprofAddrs := make([]string, numBrokers)
	for i := range c {
		if pprofAddrs[i], err = cluster.FreeAddr(); err != nil {
			return err
		}
		b, err := cluster.NewBroker(env.Bin, filepath.Join(dir, "broker"+strconv.Itoa(i+1)), int32(i+1), env.ZKConnect,
			"zookeeper.session.timeout.ms="+strconv.FormatInt(cfg.zkSessionTimeout.Milliseconds(), 10),
			"gregor.pprof.listener="+pprofAddrs[i])
		if err != nil {
			return err
		}
		c[i] = b
	}
	var waits []func()
	defer func() {
		for _, w := range waits {
			w()
		}
		err = stopAll(c, err)
		if !cfg.Keep {
			os.RemoveAll(dir)
		}
	}()
	for _, b := range c {
		if err := b.Start(); err != nil {
			return err
		}
	}
	if err := cluster.WaitBrokers(ctx, c[0], numBrokers, 0); err != nil {
		return err
	}
	n, rf := cfg.partitions, cfg.rf
	fmt.Printf("scale: %d brokers, 1 topic of %d partitions, RF %d (%d replicas, %d a broker), zookeeper.session.timeout.ms %d\n",
		numBrokers, n, rf, n*rf, n*rf/numBrokers, cfg.zkSessionTimeout.Milliseconds())
	profiles := func(what string) {
		if cfg.profileDir == "" {
			return
		}
		// One CPU profile at a time per process: wait for the last ones.
		for _, w := range waits {
			w()
		}
		waits = nil
		for i, a := range pprofAddrs {
			if c[i].Running() {
				waits = append(waits, profile(ctx, a, cfg.profileSeconds,
					filepath.Join(cfg.profileDir, fmt.Sprintf("%s-broker%d.pprof", what, i+1))))
			}
		}
	}

	// 1. Create.
	profiles("create")
	t0 := time.Now()
	answered, err := createTopic(ctx, c, scaleTopic, n, rf)
	if err != nil {
		return err
	}
	if _, err := waitLeaders(ctx, c, scaleTopic, n, 10*time.Minute); err != nil {
		return err
	}
	led := time.Since(t0)
	if _, err := waitFullIsr(ctx, c, scaleTopic, n, rf, 10*time.Minute); err != nil {
		return err
	}
	full := time.Since(t0)
	fmt.Printf("  create: CreateTopics answered after %v; every broker shows a leader for every partition after %v, a full ISR after %v\n",
		answered.Round(time.Millisecond), led.Round(time.Millisecond), full.Round(time.Millisecond))
	for _, b := range c {
		if err := printMemory(fmt.Sprintf("broker %d", b.ID), b.PID()); err != nil {
			return err
		}
	}

	if rf == 1 {
		// With one replica a partition whose broker is gone has no
		// other to lead it: neither a failover nor a controlled
		// shutdown can leave every partition led.
		fmt.Println("  controller failover and controlled shutdown: skipped, RF 1 leaves a stopped broker's partitions without a leader")
		return restarts(ctx, cfg, c, n, rf, 0)
	}

	// 2. Controller failover.
	v, err := metadata(ctx, c[0], scaleTopic, n)
	if err != nil {
		return err
	}
	ctrl := v.controller
	if ctrl < 1 || ctrl > numBrokers {
		return fmt.Errorf("controller %d", ctrl)
	}
	victim := c[ctrl-1]
	survivors := without(c, ctrl)
	zw, err := newControllerWatch(env.ZKConnect)
	if err != nil {
		return err
	}
	defer zw.Close()
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	profiles("failover")
	t0 = time.Now()
	zkTimes := zw.watch(wctx, ctrl, t0)
	if err := victim.Kill(); err != nil {
		return err
	}
	var detected time.Duration // first time a survivor names another controller
	failover, err := pollViews(ctx, survivors, scaleTopic, n, 2*time.Minute, "a new controller and live leaders", func(b *cluster.Broker, v view) (bool, string) {
		if v.controller < 0 || v.controller == ctrl {
			return false, fmt.Sprintf("controller %d", v.controller)
		}
		if detected == 0 {
			detected = time.Since(t0)
		}
		ok := 0
		for _, p := range v.parts {
			if p.code == 0 && p.leader >= 0 && p.leader != ctrl {
				ok++
			}
		}
		return ok == n, fmt.Sprintf("controller %d, %d of %d partitions with a live leader", v.controller, ok, n)
	})
	if err != nil {
		return err
	}
	if detected == 0 {
		detected = failover
	}
	gone, elected := zkTimes()
	fmt.Printf("  controller failover (kill -9 of controller %d at %s): a survivor names a new controller after %v, every partition led by a live broker on both survivors after %v: target ≤ %v: %s\n",
		ctrl, t0.Format("15:04:05.000"), detected.Round(time.Millisecond), failover.Round(time.Millisecond), targetFailover, holds(failover <= targetFailover))
	fmt.Printf("    in ZooKeeper: /controller gone (session expired; zookeeper.session.timeout.ms %d) after %v, a new controller in it after %v; from then until every partition was led: %v\n",
		cfg.zkSessionTimeout.Milliseconds(), gone.Round(time.Millisecond), elected.Round(time.Millisecond), (failover - elected).Round(time.Millisecond))
	if err := cluster.WaitBrokers(ctx, survivors[0], numBrokers-1, ctrl); err != nil {
		return err
	}
	if err := victim.Start(); err != nil {
		return err
	}
	back, err := waitFullIsr(ctx, c, scaleTopic, n, rf, 10*time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("    broker %d started again: every ISR full after %v\n", ctrl, back.Round(time.Millisecond))

	// 3. Controlled shutdown of the non-controller leading the most.
	if v, err = metadata(ctx, c[0], scaleTopic, n); err != nil {
		return err
	}
	ctrl = v.controller
	leads := make(map[int32]int)
	for _, p := range v.parts {
		leads[p.leader]++
	}
	var victimID int32
	for _, b := range c {
		if b.ID != ctrl && (victimID == 0 || leads[b.ID] > leads[victimID]) {
			victimID = b.ID
		}
	}
	victim, survivors = c[victimID-1], without(c, victimID)
	csAnswered := watchLog(ctx, victim.LogPath, "controlled shutdown succeeded")
	t0 = time.Now()
	stopped := make(chan error, 1)
	var exited time.Duration
	go func() {
		err := victim.Stop()
		exited = time.Since(t0)
		stopped <- err
	}()
	moved, err := pollViews(ctx, survivors, scaleTopic, n, 2*time.Minute, fmt.Sprintf("broker %d leading nothing", victimID), func(_ *cluster.Broker, v view) (bool, string) {
		still := 0
		for _, p := range v.parts {
			if p.leader == victimID || p.leader < 0 {
				still++
			}
		}
		return still == 0, fmt.Sprintf("%d partitions led by broker %d or by none", still, victimID)
	})
	if err != nil {
		return err
	}
	if err := <-stopped; err != nil {
		return fmt.Errorf("controlled shutdown of broker %d: %w", victimID, err)
	}
	fmt.Printf("  controlled shutdown (SIGTERM to broker %d at %s, leading %d of %d): it leads nothing on the others after %v: target ≤ %v: %s; its process exited after %v\n",
		victimID, t0.Format("15:04:05.000"), leads[victimID], n, moved.Round(time.Millisecond), targetShutdown, holds(moved <= targetShutdown), exited.Round(time.Millisecond))
	if at, ok := csAnswered(); ok {
		fmt.Printf("    the controller answered its ControlledShutdown with nothing left (its log) after %v; from then until the others' Metadata showed it leading nothing: %v\n",
			at.Sub(t0).Round(time.Millisecond), (moved - at.Sub(t0)).Round(time.Millisecond))
	} else {
		fmt.Println("    its log does not show a successful controlled shutdown")
	}

	return restarts(ctx, cfg, c, n, rf, victimID)
}

// restarts measures the clean restart of broker stopped (0: stop one
// first, with SIGTERM), and the restart after kill -9 with unflushed data.
func restarts(ctx context.Context, cfg config, c cluster.Cluster, n, rf int, stopped int32) error {
	// 4. Clean restart of a stopped broker.
	if stopped == 0 {
		stopped = c[len(c)-1].ID
		t0 := time.Now()
		if err := c[stopped-1].Stop(); err != nil {
			return err
		}
		fmt.Printf("  broker %d stopped with SIGTERM in %v\n", stopped, time.Since(t0).Round(time.Millisecond))
	}
	meta, isr, err := restart(ctx, c, c[stopped-1], n, rf)
	if err != nil {
		return err
	}
	fmt.Printf("  clean restart of broker %d: it answers Metadata as one of %d live brokers after %v; back in every ISR on every broker (and every partition led) after %v: target ≤ %v: %s\n",
		stopped, numBrokers, meta.Round(time.Millisecond), isr.Round(time.Millisecond), targetRestart, holds(isr <= targetRestart))

	// 5. kill -9 with unflushed data, then restart.
	if cfg.unflushed > 0 {
		v, err := metadata(ctx, c[0], scaleTopic, n)
		if err != nil {
			return err
		}
		var ctrl, victimID int32 = v.controller, 0
		var victim *cluster.Broker
		var survivors cluster.Cluster
		for _, b := range c {
			if b.ID != ctrl {
				victimID = b.ID
			}
		}
		victim, survivors = c[victimID-1], without(c, victimID)
		var hosted []int32
		for i, p := range v.parts {
			if slices.Contains(p.replicas, victimID) {
				hosted = append(hosted, int32(i))
			}
		}
		if len(hosted) == 0 {
			return fmt.Errorf("broker %d hosts no replica", victimID)
		}
		const size = 16 << 10
		perPartition := max((cfg.unflushed+int64(len(hosted))*size-1)/(int64(len(hosted))*size), 1)
		total := perPartition * int64(len(hosted)) * size
		elapsed, err := produceEvenly(ctx, c, scaleTopic, hosted, perPartition, size, kgo.AllISRAcks())
		if err != nil {
			return err
		}
		fmt.Printf("  produced %.0f MiB with acks=all to the %d partitions broker %d hosts in %v; kill -9 of broker %d\n",
			float64(total)/mib, len(hosted), victimID, elapsed.Round(time.Millisecond), victimID)
		if err := victim.Kill(); err != nil {
			return err
		}
		if err := cluster.WaitBrokers(ctx, survivors[0], numBrokers-1, victimID); err != nil {
			return err
		}
		meta, isr, err := restart(ctx, c, victim, n, rf)
		if err != nil {
			return err
		}
		fmt.Printf("  restart after kill -9 with %.0f MiB unflushed (started once its session had expired): it answers Metadata after %v; back in every ISR on every broker after %v\n",
			float64(total)/mib, meta.Round(time.Millisecond), isr.Round(time.Millisecond))
	}
	return nil
}

// restart starts b and returns the times from the start until it answers
// Metadata listing every broker, and until every broker shows it in the
// ISR of every partition it is a replica of.
func restart(ctx context.Context, c cluster.Cluster, b *cluster.Broker, n, rf int) (meta, isr time.Duration, err error) {
	t0 := time.Now()
	if err := b.Start(); err != nil {
		return 0, 0, err
	}
	if _, err := pollViews(ctx, cluster.Cluster{b}, scaleTopic, n, 5*time.Minute, fmt.Sprintf("broker %d serving Metadata", b.ID), func(_ *cluster.Broker, v view) (bool, string) {
		return len(v.brokers) == numBrokers && v.controller >= 0, fmt.Sprintf("brokers %v, controller %d", v.brokers, v.controller)
	}); err != nil {
		return 0, 0, err
	}
	meta = time.Since(t0)
	if _, err := pollViews(ctx, c, scaleTopic, n, 10*time.Minute, fmt.Sprintf("broker %d back in every ISR", b.ID), func(_ *cluster.Broker, v view) (bool, string) {
		out := 0
		for _, p := range v.parts {
			if slices.Contains(p.replicas, b.ID) && !slices.Contains(p.isr, b.ID) || p.leader < 0 {
				out++
			}
		}
		return out == 0, fmt.Sprintf("%d partitions without broker %d in the ISR or without a leader", out, b.ID)
	}); err != nil {
		return 0, 0, err
	}
	return meta, time.Since(t0), nil
}

// without returns the brokers of c other than id.
func without(c cluster.Cluster, id int32) cluster.Cluster {
	var s cluster.Cluster
	for _, b := range c {
		if b.ID != id {
			s = append(s, b)
		}
	}
	return s
}
