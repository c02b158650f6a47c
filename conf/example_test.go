package conf_test

import (
	"fmt"

	"github.com/gregor-broker/gregor/conf"
)

func ExampleParse() {
	props, _ := conf.ParseProperties([]byte(`
zookeeper.connect=zk1:2181,zk2:2181/kafka
log.retention.hours=72
listeners=PLAINTEXT://:9092
ssl.keystore.location=/etc/kafka/keystore.jks
`))
	cfg, warnings, err := conf.Parse(props)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Println("warning:", w)
	}
	fmt.Println(cfg.ZooKeeper.Servers, cfg.ZooKeeper.Chroot)
	fmt.Println(cfg.LogRetention, cfg.Listeners[0])
	// Output:
	// warning: ssl.keystore.location: a Kafka setting Gregor does not support; ignored
	// [zk1:2181 zk2:2181] /kafka
	// 72h0m0s PLAINTEXT://:9092
}

func ExampleParse_errors() {
	_, _, err := conf.Parse(map[string]string{
		"zookeeper.connect":          "localhost:2181",
		"broker.id":                  "abc",
		"log.segment.bytes":          "10",
		"log.message.timestamp.type": "Foo",
	})
	fmt.Println(err)
	// Output:
	// broker.id=abc: not a valid int
	// log.segment.bytes=10: must be at least 14
	// log.message.timestamp.type=Foo: must be one of [CreateTime LogAppendTime]
}

func ExampleTopicConfig_WithOverrides() {
	cfg, _, _ := conf.Parse(map[string]string{"zookeeper.connect": "localhost:2181"})
	topic, err := cfg.TopicDefaults().WithOverrides(map[string]string{
		"cleanup.policy": "compact",
		"segment.bytes":  "104857600",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"cleanup.policy", "segment.bytes", "retention.ms"} {
		e, _ := topic.DescribeKey(name)
		fmt.Println(name, *e.Value, e.Source)
	}
	_, err = cfg.TopicDefaults().WithOverrides(map[string]string{"retention.hours": "1"})
	fmt.Println(err)
	// Output:
	// cleanup.policy compact DYNAMIC_TOPIC_CONFIG
	// segment.bytes 104857600 DYNAMIC_TOPIC_CONFIG
	// retention.ms 604800000 DEFAULT_CONFIG
	// retention.hours=1: unknown topic config
}
