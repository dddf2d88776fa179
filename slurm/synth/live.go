package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/tally-hpc/tally/slurm"
)

// ctldTRES prints TRES as slurmctld does in tres_req_str and
// tres_alloc_str: in TRES id order (cpu, mem, node, billing, then the
// GRES), memory in the largest unit that divides it exactly. (sacct
// --noconvert, TRESString, prints another order and always MiB.)
func ctldTRES(t slurm.TRES) string {
	var parts []string
	if t.CPU > 0 {
		parts = append(parts, "cpu="+strconv.FormatInt(t.CPU, 10))
	}
	if t.MemMiB > 0 {
		n, unit := t.MemMiB, 0
		for n%1024 == 0 && unit < 3 {
			n, unit = n/1024, unit+1
		}
		parts = append(parts, "mem="+strconv.FormatInt(n, 10)+string("MGTP"[unit]))
	}
	if t.Nodes > 0 {
		parts = append(parts, "node="+strconv.FormatInt(t.Nodes, 10))
	}
	if t.Billing > 0 {
		parts = append(parts, "billing="+strconv.FormatInt(t.Billing, 10))
	}
	if t.GPU > 0 {
		parts = append(parts, "gres/gpu="+strconv.FormatInt(t.GPU, 10))
		for _, k := range gpuTypes(t) {
			parts = append(parts, "gres/gpu:"+k+"="+strconv.FormatInt(t.GPUByType[k], 10))
		}
	}
	return strings.Join(parts, ",")
}

func gpuTypes(t slurm.TRES) []string {
	types := make([]string, 0, len(t.GPUByType))
	for k := range t.GPUByType {
		types = append(types, k)
	}
	sort.Strings(types)
	return types
}

// liveRecords are the records slurmctld lists for the jobs that have not
// ended, in order: one per started job, and for the pending ones one per
// job, except that an array's pending tasks share one record (the array's
// own, job_id = array_job_id, array_task_string naming the tasks still to
// run), as slurmctld keeps them until a task starts. The generator numbers
// tasks as slurmdbd finally records them, so task 0 carries the array's id;
// when that task already runs, the pending ones are listed one by one
// rather than under an id that is taken.
func liveRecords(jobs []slurm.Job) []liveRecord {
	var out []liveRecord
	taken := map[int64]bool{}
	pendingTasks := map[int64][]slurm.Job{}
	for _, j := range jobs {
		if !j.End.IsZero() {
			continue
		}
		if j.State == "PENDING" && j.ArrayJobID != 0 && j.ArrayTaskID != nil {
			if pendingTasks[j.ArrayJobID] == nil {
				out = append(out, liveRecord{array: j.ArrayJobID})
			}
			pendingTasks[j.ArrayJobID] = append(pendingTasks[j.ArrayJobID], j)
			continue
		}
		taken[j.JobID] = true
		out = append(out, liveRecord{job: j})
	}
	var all []liveRecord
	for _, r := range out {
		if r.array == 0 {
			all = append(all, r)
			continue
		}
		tasks := pendingTasks[r.array]
		if taken[r.array] {
			for _, t := range tasks {
				all = append(all, liveRecord{job: t})
			}
			continue
		}
		meta := tasks[0]
		meta.JobID, meta.ArrayTaskID = r.array, nil
		all = append(all, liveRecord{job: meta, tasks: taskRanges(tasks)})
	}
	return all
}

// liveRecord is one job record of the live list; tasks is set for an
// array's shared pending record.
type liveRecord struct {
	job   slurm.Job
	array int64
	tasks string
}

// taskRanges prints task ids as slurmctld's array_task_string does: "3-7,9".
func taskRanges(tasks []slurm.Job) string {
	ids := make([]int64, 0, len(tasks))
	for _, t := range tasks {
		ids = append(ids, *t.ArrayTaskID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var parts []string
	for i := 0; i < len(ids); {
		k := i
		for k+1 < len(ids) && ids[k+1] == ids[k]+1 {
			k++
		}
		if k == i {
			parts = append(parts, strconv.FormatInt(ids[i], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[k]))
		}
		i = k + 1
	}
	return strings.Join(parts, ",")
}

// writeLiveJobs writes a /slurm/v0.0.38/jobs answer as slurmctld 22.05
// does (shape of slurm/testdata/testbed/slurm-v0.0.38-jobs.json, recorded
// from one): every field of every record, nulls for what is unset, and
// json-c's escaped slashes.
func writeLiveJobs(w io.Writer, cluster string, jobs []slurm.Job, users []User) error {
	ids := map[string]int64{}
	assoc := map[string]int64{}
	for i, u := range users {
		ids[u.Name] = int64(1001 + i)
		for _, a := range u.Accounts {
			if _, ok := assoc[u.Name+"/"+a]; !ok {
				assoc[u.Name+"/"+a] = int64(len(assoc) + 2) // 1 is root's
			}
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"meta":{"plugin":{"type":"openapi\/v0.0.38","name":"Slurm OpenAPI v0.0.38"},` +
		`"Slurm":{"version":{"major":22,"micro":8,"minor":5},"release":"22.05.8"}},"errors":[],"jobs":[`)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // json-c leaves <, > and & as they are
	for i, r := range liveRecords(jobs) {
		buf.Reset()
		if err := enc.Encode(liveJob(cluster, r, ids[r.job.User], assoc[r.job.User+"/"+r.job.Account])); err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		// json-c escapes every slash; a reader has to take "\/" as "/".
		bw.Write(bytes.ReplaceAll(bytes.TrimSpace(buf.Bytes()), []byte("/"), []byte(`\/`)))
	}
	bw.WriteString("]}")
	return bw.Flush()
}

// liveJob is one record, every field slurmctld 22.05 prints.
func liveJob(cluster string, r liveRecord, uid, assocID int64) map[string]any {
	j := r.job
	running := j.State != "PENDING"
	var task any
	if j.ArrayTaskID != nil {
		task = *j.ArrayTaskID
	}
	limit := int64(0xffffffff) // INFINITE, as 22.05 prints it
	if j.TimeLimitMinutes != nil {
		limit = *j.TimeLimitMinutes
	}
	cpus := max(j.Requested.CPU, 1)
	home := "/home/" + j.User
	rec := map[string]any{
		"account": j.Account, "accrue_time": j.Eligible.Unix(), "admin_comment": "",
		"array_job_id": j.ArrayJobID, "array_task_id": task, "array_max_tasks": 0, "array_task_string": r.tasks,
		"association_id": assocID, "batch_features": "", "batch_flag": true, "batch_host": "",
		"flags": []string{}, "burst_buffer": "", "burst_buffer_state": "", "cluster": cluster, "cluster_features": "",
		"command": home + "/run.sh", "comment": "", "container": "", "contiguous": false,
		"core_spec": nil, "thread_spec": nil, "cores_per_socket": nil, "billable_tres": nil, "cpus_per_task": nil,
		"cpu_frequency_minimum": nil, "cpu_frequency_maximum": nil, "cpu_frequency_governor": nil, "cpus_per_tres": "",
		"deadline": 0, "delay_boot": 0, "dependency": "", "derived_exit_code": 0,
		"eligible_time": j.Eligible.Unix(), "end_time": 0, "excluded_nodes": "", "exit_code": 0, "features": "",
		"federation_origin": "", "federation_siblings_active": "", "federation_siblings_viable": "",
		"gres_detail": []string{}, "group_id": uid, "group_name": j.User, "job_id": j.JobID,
		"job_state": j.State, "last_sched_evaluation": j.Submit.Unix(), "licenses": "", "max_cpus": 0, "max_nodes": 0,
		"mcs_label": "", "memory_per_tres": "", "name": j.Name, "nodes": "", "nice": nil,
		"tasks_per_core": nil, "tasks_per_node": 0, "tasks_per_socket": nil, "tasks_per_board": 0,
		"cpus": cpus, "node_count": max(j.Requested.Nodes, 1), "tasks": 1,
		"het_job_id": 0, "het_job_id_set": "", "het_job_offset": 0, "partition": j.Partition, "prefer": "",
		"memory_per_node": nil, "memory_per_cpu": j.Requested.MemMiB / cpus,
		"minimum_cpus_per_node": cpus, "minimum_tmp_disk_per_node": 0, "preempt_time": 0, "pre_sus_time": 0,
		"priority": 4294901760 - j.JobID%65536, "profile": nil, "qos": j.QOS, "reboot": false, "required_nodes": "",
		"requeue": true, "resize_time": 0, "restart_cnt": 0, "resv_name": "", "shared": nil,
		"show_flags":        []string{"SHOW_ALL", "SHOW_DETAIL", "SHOW_LOCAL"},
		"sockets_per_board": 0, "sockets_per_node": nil, "start_time": 0, "state_description": "", "state_reason": "Priority",
		"standard_error": "", "standard_input": "/dev/null", "standard_output": home + "/slurm-" + strconv.FormatInt(j.JobID, 10) + ".out",
		"submit_time": j.Submit.Unix(), "suspend_time": 0, "system_comment": "", "time_limit": limit, "time_minimum": 0,
		"threads_per_core": nil, "tres_bind": "", "tres_freq": "", "tres_per_job": "", "tres_per_node": "",
		"tres_per_socket": "", "tres_per_task": "", "tres_req_str": ctldTRES(j.Requested), "tres_alloc_str": "",
		"user_id": uid, "user_name": j.User, "wckey": "", "current_working_directory": home,
	}
	if j.Requested.GPU > 0 {
		if types := gpuTypes(j.Requested); len(types) == 1 {
			rec["tres_per_node"] = fmt.Sprintf("gres:gpu:%s:%d", types[0], j.Requested.GPU)
		} else {
			rec["tres_per_node"] = fmt.Sprintf("gres:gpu:%d", j.Requested.GPU)
		}
	}
	if !running {
		return rec
	}
	alloc := j.Allocated
	if alloc.CPU == 0 {
		alloc = j.Requested
	}
	node := j.NodeList
	rec["flags"] = []string{"JOB_ACCRUE_OVER", "JOB_WAS_RUNNING"}
	rec["batch_host"], rec["nodes"], rec["state_reason"] = node, node, "None"
	rec["start_time"], rec["last_sched_evaluation"] = j.Start.Unix(), j.Start.Unix()
	if j.TimeLimitMinutes != nil {
		rec["end_time"] = j.Start.Unix() + limit*60 // when the limit ends it
	}
	rec["billable_tres"] = float64(alloc.Billing)
	rec["tres_alloc_str"] = ctldTRES(alloc)
	if alloc.GPU > 0 {
		detail := fmt.Sprintf("gpu:%d(IDX:0-%d)", alloc.GPU, alloc.GPU-1)
		if types := gpuTypes(alloc); len(types) == 1 {
			detail = fmt.Sprintf("gpu:%s:%d(IDX:0-%d)", types[0], alloc.GPU, alloc.GPU-1)
		}
		rec["gres_detail"] = []string{strings.Replace(detail, "IDX:0-0", "IDX:0", 1)}
	}
	// The cores it holds, 32 to a socket.
	sockets := map[string]any{}
	for c := int64(0); c < alloc.CPU; c++ {
		s := strconv.FormatInt(c/32, 10)
		if sockets[s] == nil {
			sockets[s] = map[string]any{"cores": map[string]string{}}
		}
		sockets[s].(map[string]any)["cores"].(map[string]string)[strconv.FormatInt(c%32, 10)] = "allocated"
	}
	rec["job_resources"] = map[string]any{"nodes": node, "allocated_cores": alloc.CPU, "allocated_hosts": 1,
		"allocated_nodes": []any{map[string]any{"sockets": sockets, "nodename": node, "cpus_used": 0, "memory_used": 0,
			"memory_allocated": alloc.MemMiB}}}
	return rec
}
