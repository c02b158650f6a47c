// Package zkutil is Gregor's typed access to ZooKeeper: every znode path
// and every JSON format of Kafka's ZooKeeper layout lives here, and nothing
// else. It knows paths, formats, znode versions, transactions and watches;
// it holds no broker policy (it never chooses a leader, never reads ISR
// rules, never returns Kafka error codes). The broker, the controller and
// the admin handlers decide; zkutil reads and writes what they decided.
//
// # Layout
//
// The layout is Kafka 2.x's (Kafka 2.8's ZkData.scala), under the optional
// chroot of zookeeper.connect; DESIGN.md section 3 is the contract. One
// file per znode family holds the paths, the JSON and the operations:
//
//	cluster_id_znode.go         /cluster/id                        {"version":"1","id":"<base64 uuid>"}, created once
//	broker_znode.go             /brokers/ids/<id>                  ephemeral registration, JSON version 5; czxid = broker epoch
//	                            /brokers/seqid                     its version hands out broker ids
//	topic_znode.go              /brokers/topics/<topic>            {"version":3,"topic_id":..,"partitions":{"0":[1,2]},"adding_replicas":{},"removing_replicas":{}}
//	partition_state_znode.go    /brokers/topics/<t>/partitions/<p>/state
//	                                                               {"controller_epoch":c,"leader":l,"version":1,"leader_epoch":e,"isr":[..]}
//	controller_znode.go         /controller                        ephemeral {"version":1,"brokerid":id,"timestamp":"ms"}
//	                            /controller_epoch                  decimal epoch; its znode version fences controller writes
//	config_znode.go             /config/{topics,brokers,clients,users}/<name>   {"version":1,"config":{..}}
//	                            /config/changes/config_change_<seq>             {"version":2,"entity_path":"topics/t"}
//	admin_znode.go              /admin/delete_topics/<topic>       empty
//	                            /admin/reassign_partitions         {"version":1,"partitions":[{"topic":t,"partition":p,"replicas":[..]}]}
//	                            /admin/preferred_replica_election  {"version":1,"partitions":[{"topic":t,"partition":p}]}
//	producer_id_block_znode.go  /latest_producer_id_block          {"version":1,"broker":id,"block_start":"n","block_end":"m"}
//	consumer_offsets_znode.go   /consumers/<group>/offsets/<topic>/<p>   decimal offset (OffsetCommit v0)
//
// CreateTopLevelPaths also creates /isr_change_notification and
// /log_dir_event_notification, which Gregor does not use, so that Kafka's
// tools find the tree they expect. The encoders write exactly Kafka's
// bytes, key order included; testdata/ holds golden files of each format.
//
// # Writes and versions
//
// Every znode has a version, bumped by each write. A conditional write
// names the version it read and fails with ErrVersionConflict if someone
// wrote since: partition states are only ever written that way. The
// controller's writes are also fenced: a transaction checks that
// /controller_epoch is still at the version the controller's election left
// it at, so a controller that has been replaced cannot write
// (ErrEpochFenced). The election itself is one transaction that creates
// /controller and bumps /controller_epoch conditionally, so two brokers
// racing produce exactly one controller and one new epoch.
//
// # Connection loss, sessions and watches
//
// A lost connection is retried, reads always, writes where safe: after a
// lost answer a conditional write may fail against its own earlier
// success, which zkutil detects by reading the znode back (same bytes at
// the next version, or an ephemeral znode owned by this session). Calls
// give up when their context ends.
//
// Session expiry is normal life. zkutil reports it (SessionEvents:
// SessionExpired, then SessionNew when the client has a new session) and
// does nothing else: the broker calls RegisterBroker again, the controller
// resigns and runs for election again, watchers re-read and re-arm.
//
// Watches are ZooKeeper's: one-shot, and carrying no data. Each Watch*
// call reads and returns a channel that delivers one WatchEvent and
// closes; the caller re-reads (which re-arms) when it fires. A watch of an
// expired session fires WatchLost. The calls that watch a znode's children
// (WatchBrokerIDs, WatchTopics, WatchTopicDeletions, WatchConfigChanges)
// fail with ErrNoNode when the parent is missing: a broker calls
// CreateTopLevelPaths at start-up, as Kafka's brokers do.
//
// # Concurrency
//
// A Client is safe for concurrent use. Its goroutines (one per pending
// watch, one per session-event subscriber, go-zookeeper's own) end when it
// is closed, and Close waits for them.
package zkutil
