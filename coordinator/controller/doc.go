// Package controller is the cluster controller: the one broker that won the
// /controller znode. It decides partition leaders and ISRs, writes them to
// ZooKeeper fenced by the controller epoch, and tells brokers with
// LeaderAndIsr, UpdateMetadata and StopReplica requests.
//
// Its decisions are plain functions, testable without goroutines or
// ZooKeeper: replica assignment (assignment.go, Kafka's AdminUtils without
// racks), leader election (election.go, Kafka's election strategies for
// offline partitions, preferred leaders and controlled shutdown) and
// partition state transitions (partitions.go). One term's event loop
// (controller.go, topics.go) owns the live brokers, assignments and
// partition states, applies those decisions on broker and topic changes,
// additions of partitions (a data watch per topic) and topic deletions
// (deletion.go, Kafka's TopicDeletionManager), and sends brokers the
// results through one queue and sender goroutine per broker (sender.go).
// Events from other goroutines (per-topic watches, StopReplica answers)
// reach the loop through the term's inbox, so the loop stays the only
// owner of the state.
package controller
