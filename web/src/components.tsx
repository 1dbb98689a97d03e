// Small pieces every page uses.
import { useState, type ReactNode } from "react";
import { money, sign } from "./format";

export function Pnl({ value, digits = 2 }: { value: string | null | undefined; digits?: number }) {
  const s = sign(value);
  return <span className={s > 0 ? "up" : s < 0 ? "down" : ""}>{money(value, digits)}</span>;
}

export function Card({ title, children, id, wide }: { title: string; children: ReactNode; id?: string; wide?: boolean }) {
  return (
    <section className={wide ? "card wide" : "card"} id={id}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function ErrorLine({ error }: { error: string }) {
  return error ? <p className="error" role="alert">{error}</p> : null;
}

export interface Column<T> { title: string; cell: (row: T) => ReactNode; className?: string }

export function Table<T>({ rows, columns, rowKey, empty, id }: {
  rows: T[] | undefined; columns: Column<T>[]; rowKey: (row: T) => string; empty: string; id?: string;
}) {
  if (rows === undefined) return <p className="muted">loading...</p>;
  if (!rows.length) return <p className="muted">{empty}</p>;
  return (
    <table id={id}>
      <thead><tr>{columns.map((c) => <th key={c.title} className={c.className}>{c.title}</th>)}</tr></thead>
      <tbody>
        {rows.map((r) => (
          <tr key={rowKey(r)} data-key={rowKey(r)}>
            {columns.map((c) => <td key={c.title} className={c.className}>{c.cell(r)}</td>)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A button that runs an API call, shows it is busy, and reports the call's error next to itself. */
export function Action({ label, run, className, disabled, title }: {
  label: string; run: () => Promise<unknown>; className?: string; disabled?: boolean; title?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  return (
    <span className="action">
      <button type="button" className={className} disabled={busy || disabled} title={title}
        onClick={() => {
          setBusy(true);
          setError("");
          run().catch((e: Error) => setError(e.message)).finally(() => setBusy(false));
        }}>
        {label}
      </button>
      {error && <span className="error" role="alert">{error}</span>}
    </span>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge badge-${state}`}>{state}</span>;
}
