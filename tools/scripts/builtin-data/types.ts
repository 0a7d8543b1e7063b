/** A corpus document as written to the Pile-style JSON lines. */
export interface CorpusDocument {
  text: string;
  /** Provenance of the text (package, file, licence id, language), written to `meta`. */
  source: Record<string, string>;
}

/** A labelled text that may become a task example. */
export interface LabelledText {
  text: string;
  label: string;
}

/** Output of one source: documents for a domain corpus and candidates for its task. */
export interface DomainData {
  documents: CorpusDocument[];
  candidates: LabelledText[];
}
