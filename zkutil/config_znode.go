package zkutil

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"
)

// /config/<type>/<name> holds the dynamic config overrides of an entity
// (a topic, a broker or "<default>", a client id, a user):
//
//	{"version":1,"config":{"retention.ms":"3600000"}}
//
// A change is announced by a persistent sequential znode under
// /config/changes, which every broker watches (Kafka's
// ZkNodeChangeNotificationListener) to re-read the entity:
//
//	/config/changes/config_change_0000000042  {"version":2,"entity_path":"topics/t"}
//
// Version 1 notifications, {"version":1,"entity_type":"topics",
// "entity_name":"t"}, are still read. Whoever processes notifications
// deletes old ones.
const (
	configPath        = "/config"
	configChangesPath = "/config/changes"
	// ConfigChangePrefix is the name prefix of change notifications.
	ConfigChangePrefix = "config_change_"
)

// ConfigEntityType is a kind of entity with dynamic config: the name of
// its directory under /config.
type ConfigEntityType string

// The entity types of DESIGN.md's layout.
const (
	ConfigTopics  ConfigEntityType = "topics"
	ConfigBrokers ConfigEntityType = "brokers"
	ConfigClients ConfigEntityType = "clients"
	ConfigUsers   ConfigEntityType = "users"
)

// configEntityTypes are the directories created by CreateTopLevelPaths.
var configEntityTypes = []ConfigEntityType{ConfigTopics, ConfigClients, ConfigUsers, ConfigBrokers}

// entityConfigPath checks an entity's type and name and returns its
// znode. A name may have several segments, as Kafka's nested entities do
// ("alice/clients/app" under users); each must be a znode name. Client
// ids and user names must already be sanitized (URL-encoded) as Kafka
// does: that is the caller's job.
func entityConfigPath(typ ConfigEntityType, name string) (string, error) {
	if err := checkName("config entity type", string(typ)); err != nil {
		return "", err
	}
	p := configPath + "/" + string(typ) + "/" + name
	if err := checkPath(p); err != nil {
		return "", err
	}
	return p, nil
}

type entityConfigJSON struct {
	Version int               `json:"version"`
	Config  map[string]string `json:"config"`
}

func encodeEntityConfig(cfg map[string]string) []byte {
	if cfg == nil {
		cfg = map[string]string{}
	}
	return marshal(entityConfigJSON{Version: 1, Config: cfg})
}

// decodeEntityConfig reads an entity's overrides. An empty znode is no
// overrides (Kafka creates the /config/<type> znodes empty); otherwise
// config must be an object of strings, as Kafka's Properties are.
func decodeEntityConfig(data []byte) (map[string]string, error) {
	cfg := map[string]string{}
	if len(data) == 0 {
		return cfg, nil
	}
	var v struct {
		Version *int               `json:"version"`
		Config  *map[string]string `json:"config"`
	}
	if err := unmarshal("entity config", data, &v); err != nil {
		return nil, err
	}
	switch {
	case v.Version == nil || *v.Version != 1:
		return nil, malformed("entity config", errors.New("version is not 1"))
	case v.Config == nil:
		return nil, malformed("entity config", errors.New("no config object"))
	}
	for k, val := range *v.Config {
		cfg[k] = val
	}
	return cfg, nil
}

// EntityConfig reads an entity's config overrides; an entity without any
// gets an empty map.
func (c *Client) EntityConfig(ctx context.Context, typ ConfigEntityType, name string) (map[string]string, error) {
	p, err := entityConfigPath(typ, name)
	if err != nil {
		return nil, err
	}
	data, _, err := c.get(ctx, p)
	if errors.Is(err, ErrNoNode) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := decodeEntityConfig(data)
	if err != nil {
		return nil, fmt.Errorf("zkutil: %s: %w", p, err)
	}
	return cfg, nil
}

// SetEntityConfig replaces an entity's config overrides, creating its
// znode if needed. It does not announce the change: NotifyConfigChange
// does, once the caller is done writing.
func (c *Client) SetEntityConfig(ctx context.Context, typ ConfigEntityType, name string, cfg map[string]string) error {
	p, err := entityConfigPath(typ, name)
	if err != nil {
		return err
	}
	data := encodeEntityConfig(cfg)
	_, err = c.set(ctx, p, data, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		_, err = c.createWithParents(ctx, p, data, zk.FlagPersistent)
		if errors.Is(err, ErrNodeExists) { // created meanwhile: overwrite it
			_, err = c.set(ctx, p, data, MatchAnyVersion)
		}
	}
	return err
}

// DeleteEntityConfig deletes an entity's config znode, behind f (the
// controller deleting a topic passes its fence). Deleting a config that
// does not exist is not an error.
func (c *Client) DeleteEntityConfig(ctx context.Context, f Fence, typ ConfigEntityType, name string) error {
	p, err := entityConfigPath(typ, name)
	if err != nil {
		return err
	}
	err = c.fencedDelete(ctx, f, p, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

// ConfigEntities lists the entities of a type that have a config znode.
func (c *Client) ConfigEntities(ctx context.Context, typ ConfigEntityType) ([]string, error) {
	if err := checkName("config entity type", string(typ)); err != nil {
		return nil, err
	}
	names, err := c.children(ctx, configPath+"/"+string(typ))
	if errors.Is(err, ErrNoNode) {
		return []string{}, nil
	}
	return names, err
}

// ConfigChange is a change notification: which entity to re-read.
type ConfigChange struct {
	EntityPath string // "<type>/<name>", such as "topics/t" or "users/alice/clients/app"
}

// Entity splits the entity path into type and name.
func (cc ConfigChange) Entity() (ConfigEntityType, string) {
	typ, name, _ := strings.Cut(cc.EntityPath, "/")
	return ConfigEntityType(typ), name
}

type configChangeJSON struct {
	Version    int    `json:"version"`
	EntityPath string `json:"entity_path"`
}

func encodeConfigChange(cc ConfigChange) []byte {
	return marshal(configChangeJSON{Version: 2, EntityPath: cc.EntityPath})
}

// decodeConfigChange reads versions 1 and 2 of a notification.
func decodeConfigChange(data []byte) (ConfigChange, error) {
	var v struct {
		Version    *int    `json:"version"`
		EntityPath *string `json:"entity_path"`
		EntityType *string `json:"entity_type"`
		EntityName *string `json:"entity_name"`
	}
	if err := unmarshal("config change", data, &v); err != nil {
		return ConfigChange{}, err
	}
	var cc ConfigChange
	switch {
	case v.Version != nil && *v.Version == 2 && v.EntityPath != nil:
		cc.EntityPath = *v.EntityPath
	case v.Version != nil && *v.Version == 1 && v.EntityType != nil && v.EntityName != nil:
		cc.EntityPath = *v.EntityType + "/" + *v.EntityName
	default:
		return ConfigChange{}, malformed("config change", errors.New("neither version 2 with entity_path nor version 1 with entity_type and entity_name"))
	}
	typ, name := cc.Entity()
	if _, err := entityConfigPath(typ, name); err != nil {
		return ConfigChange{}, malformed("config change", err)
	}
	return cc, nil
}

// NotifyConfigChange announces that an entity's config changed, and
// returns the notification's znode name. A notification whose answer was
// lost to a dropped connection may be written twice; re-reading an
// entity twice is harmless.
func (c *Client) NotifyConfigChange(ctx context.Context, typ ConfigEntityType, name string) (string, error) {
	if _, err := entityConfigPath(typ, name); err != nil {
		return "", err
	}
	created, err := c.createWithParents(ctx, configChangesPath+"/"+ConfigChangePrefix,
		encodeConfigChange(ConfigChange{EntityPath: string(typ) + "/" + name}), zk.FlagPersistent|zk.FlagSequence)
	if err != nil {
		return "", err
	}
	return created[strings.LastIndexByte(created, '/')+1:], nil
}

// ConfigChanges lists the change notifications' znode names, oldest first
// (their ten-digit sequence numbers sort as text).
func (c *Client) ConfigChanges(ctx context.Context) ([]string, error) {
	names, err := c.children(ctx, configChangesPath)
	if errors.Is(err, ErrNoNode) {
		return []string{}, nil
	}
	return names, err
}

// WatchConfigChanges lists the change notifications and sets a watch that
// fires when one is added or deleted.
func (c *Client) WatchConfigChanges(ctx context.Context) ([]string, <-chan WatchEvent, error) {
	return c.childrenW(ctx, configChangesPath)
}

// ConfigChangeNotification reads one notification, by znode name, with its
// stat (Ctime says how old it is, for purging). A notification that cannot
// be decoded is an error matching ErrMalformed, returned with the stat, so
// that the caller can skip it and still purge it once old.
func (c *Client) ConfigChangeNotification(ctx context.Context, node string) (ConfigChange, Stat, error) {
	if err := checkName("config change notification", node); err != nil {
		return ConfigChange{}, Stat{}, err
	}
	p := configChangesPath + "/" + node
	data, st, err := c.get(ctx, p)
	if err != nil {
		return ConfigChange{}, Stat{}, err
	}
	cc, err := decodeConfigChange(data)
	if err != nil {
		return ConfigChange{}, st, fmt.Errorf("zkutil: %s: %w", p, err)
	}
	return cc, st, nil
}

// DeleteConfigChangeNotification deletes one notification; one already
// gone is not an error.
func (c *Client) DeleteConfigChangeNotification(ctx context.Context, node string) error {
	if err := checkName("config change notification", node); err != nil {
		return err
	}
	err := c.delete(ctx, configChangesPath+"/"+node, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}
