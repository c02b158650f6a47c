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
// and sends brokers the results.
package controller
