package zktest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Installation is a Java runtime and a classpath that holds ZooKeeper's
// server classes.
type Installation struct {
	Java      string   // path of the java binary
	Classpath []string // jars (and directories), in order
}

// ErrNotInstalled is wrapped by Find's error when ZooKeeper or Java is not
// on this machine (as opposed to installed but broken).
var ErrNotInstalled = errors.New("zktest: ZooKeeper or Java is not installed")

// The places Find looks.
const (
	debianZooKeeperJar = "/usr/share/java/zookeeper.jar"
	debianSLF4JSimple  = "/usr/share/java/slf4j-simple.jar"
)

var (
	findOnce sync.Once
	found    Installation
	findErr  error
)

// Find locates Java and ZooKeeper's jars (see the package comment for where
// it looks). The result is computed once per process.
func Find() (Installation, error) {
	findOnce.Do(func() { found, findErr = find(os.Getenv) })
	return found, findErr
}

func find(getenv func(string) string) (Installation, error) {
	var inst Installation
	java, err := findJava(getenv)
	if err != nil {
		return inst, err
	}
	inst.Java = java
	switch {
	case getenv("GREGOR_ZOOKEEPER_CLASSPATH") != "":
		inst.Classpath = filepath.SplitList(getenv("GREGOR_ZOOKEEPER_CLASSPATH"))
	case getenv("GREGOR_ZOOKEEPER_HOME") != "" || getenv("ZOOKEEPER_HOME") != "":
		home := getenv("GREGOR_ZOOKEEPER_HOME")
		if home == "" {
			home = getenv("ZOOKEEPER_HOME")
		}
		// An Apache release keeps the server jar and every dependency
		// (logback included) in lib/; older ones put the server jar at the top.
		lib, _ := filepath.Glob(filepath.Join(home, "lib", "*.jar"))
		top, _ := filepath.Glob(filepath.Join(home, "*.jar"))
		sort.Strings(lib)
		sort.Strings(top)
		inst.Classpath = append(top, lib...)
		if len(inst.Classpath) == 0 {
			return inst, fmt.Errorf("%w: no jars in %s/lib", ErrNotInstalled, home)
		}
	default:
		if _, err := os.Stat(debianZooKeeperJar); err != nil {
			return inst, fmt.Errorf("%w: %s is missing (apt-get install zookeeper, or set GREGOR_ZOOKEEPER_HOME)",
				ErrNotInstalled, debianZooKeeperJar)
		}
		inst.Classpath = []string{debianZooKeeperJar}
		if _, err := os.Stat(debianSLF4JSimple); err == nil {
			inst.Classpath = append(inst.Classpath, debianSLF4JSimple)
		}
	}
	for _, p := range inst.Classpath {
		if _, err := os.Stat(p); err != nil {
			return inst, fmt.Errorf("%w: classpath entry %s: %v", ErrNotInstalled, p, err)
		}
	}
	return inst, nil
}

func findJava(getenv func(string) string) (string, error) {
	if home := getenv("JAVA_HOME"); home != "" {
		java := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(java); err == nil {
			return java, nil
		}
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w: no java on PATH and none in $JAVA_HOME/bin", ErrNotInstalled)
	}
	return java, nil
}

// Require returns the installation, or ends t when there is none: with
// t.Skip and the reason locally, with t.Fatal when GREGOR_CI=1 (CI must not
// skip the tests that need ZooKeeper). It is the one place that rule lives.
func Require(t testing.TB) Installation {
	t.Helper()
	inst, err := Find()
	if err != nil {
		if skip, msg := availability(os.Getenv("GREGOR_CI"), err); skip {
			t.Skip(msg)
		} else {
			t.Fatal(msg)
		}
	}
	return inst
}

// availability decides what Require does with Find's error: skip (locally)
// or fail (in CI), and what to say.
func availability(ci string, err error) (skip bool, msg string) {
	if ci == "1" {
		return false, fmt.Sprintf("ZooKeeper is required when GREGOR_CI=1: %v", err)
	}
	return true, fmt.Sprintf("skipping: needs a real ZooKeeper: %v", err)
}

// javaArgs is the command line of a ZooKeeper JVM running mainClass with
// the configuration file cfg. The flags favour start-up time over
// throughput: a test server lives for seconds.
func (inst Installation) javaArgs(mainClass, cfg string) []string {
	return []string{
		"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
		"-Djava.awt.headless=true",
		"-Djava.net.preferIPv4Stack=true",
		"-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.4lw.commands.whitelist=*",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
		"-cp", strings.Join(inst.Classpath, string(os.PathListSeparator)),
		mainClass, cfg,
	}
}
