import Synchronization

/// Local waiters for job completions, woken by the notices one subscriber connection
/// receives. A waiter is registered *before* its caller reads the job, so a notice that
/// arrives between the read and the wait is not missed.
final class CompletionWaiters: Sendable {
    final class Waiter: Sendable {
        enum State {
            case pending
            case waiting(CheckedContinuation<Void, Never>)
            case woken
        }
        let state = Mutex(State.pending)

        func wake() {
            let continuation: CheckedContinuation<Void, Never>? = state.withLock { state in
                switch state {
                case .pending:
                    state = .woken
                    return nil
                case .waiting(let continuation):
                    state = .woken
                    return continuation
                case .woken:
                    return nil
                }
            }
            continuation?.resume()
        }

        /// Returns once woken (at once if it already was).
        func wait() async {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if case .woken = state { return true }
                    state = .waiting(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private let waiters = Mutex<[String: [ObjectIdentifier: Waiter]]>([:])

    func register(_ id: String) -> Waiter {
        let waiter = Waiter()
        waiters.withLock { $0[id, default: [:]][ObjectIdentifier(waiter)] = waiter }
        return waiter
    }

    func unregister(_ id: String, _ waiter: Waiter) {
        waiters.withLock { all in
            all[id]?[ObjectIdentifier(waiter)] = nil
            if all[id]?.isEmpty == true { all[id] = nil }
        }
    }

    /// Wakes everyone waiting for `id`.
    func notify(_ id: String) {
        let woken = waiters.withLock { $0[id].map { Array($0.values) } ?? [] }
        woken.forEach { $0.wake() }
    }

    /// Wakes every waiter so each reads its job again (after the subscriber reconnects,
    /// notices may have been missed).
    func notifyAll() {
        let woken = waiters.withLock { $0.values.flatMap(\.values) }
        woken.forEach { $0.wake() }
    }
}
